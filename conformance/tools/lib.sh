# Shared helpers of the tpm2-tools scenario scripts (conformance/tools/<family>.sh).
# Sourced, never run. Bash only.
#
# Environment:
#   TPM2TOOLS_TCTI  the TPM to talk to (required), e.g. swtpm:host=127.0.0.1,port=2321
#   TPM_CTRL        host:port of its swtpm control channel (optional; cases that need a
#                   TPM2_Init/reset SKIP without it)
#   TPM_PEER        vtpm | swtpm | ... (optional; only used to SKIP documented limitations)
#   WORK            scratch directory (optional; default: a new temp dir); case NAME of
#                   family F runs in $WORK/F/NAME and leaves its trace in $WORK/F/NAME/log
#
# The TPM must be fresh (empty state) and unstarted or started; every script starts it
# with tpm2_startup -c. Each case prints exactly one line on stdout:
#   CASE <name> PASS
#   CASE <name> FAIL <reason>
#   CASE <name> SKIP <reason>
# Everything else (tool output, traces) goes to the case's log.
#
# Writing a case:
#   c_name() { ...commands...; }     # runs in a subshell with set -e: the first failing
#   run_case name c_name             # command fails the case, its stderr gives the reason
# or by hand: case_begin name; ...; ok | fail "why" | skip "why".
# Inside a case: `tpm TOOL ARGS` (flushes transient objects first: without a resource
# manager every tool leaves the objects it loaded behind and there are only 3 slots),
# eq/ne/match/has/size_is/same_file/differ, expect_rc/expect_fail, skip/fail, da_reset,
# tpm_reset (TPM2_Init over the control channel + Startup).

set -u
: "${TPM2TOOLS_TCTI:?TPM2TOOLS_TCTI must name the TPM (e.g. swtpm:host=127.0.0.1,port=2321)}"
export TPM2TOOLS_TCTI
TPM_PEER=${TPM_PEER:-unknown}
TPM_CTRL=${TPM_CTRL:-}
FAMILY=$(basename "$0" .sh)
WORK=${WORK:-$(mktemp -d)}
WORK=$(mkdir -p "$WORK/$FAMILY" && cd "$WORK/$FAMILY" && pwd)
CASE=
CASE_DIR=
CASE_OPEN=0

# --- reporting --------------------------------------------------------------------------

# The single-line form of a reason: no newlines, no leading/trailing blanks, bounded.
_oneline() {
    tr '\n\r\t' '   ' | sed -e 's/  */ /g' -e 's/^ //' -e 's/ $//' | cut -c1-300
}

_report() { # _report PASS|FAIL|SKIP [reason...]
    local verdict=$1
    shift
    local reason
    reason=$(printf '%s' "$*" | _oneline)
    if [ "$CASE_OPEN" = 1 ]; then
        printf 'CASE %s %s%s\n' "$CASE" "$verdict" "${reason:+ $reason}"
        printf '== %s %s\n' "$verdict" "$reason" >>"$CASE_DIR/log"
    fi
    CASE_OPEN=0
}

# case_begin NAME: start a case in a fresh directory $WORK/<family>/NAME (the current dir),
# with no transient objects or sessions left in the TPM.
case_begin() {
    if [ "$CASE_OPEN" = 1 ]; then
        _report FAIL "case ended without a verdict"
    fi
    CASE=$1
    CASE_DIR=$WORK/$1
    rm -rf "$CASE_DIR"
    mkdir -p "$CASE_DIR"
    cd "$CASE_DIR" || exit 1
    : >"$CASE_DIR/log"
    CASE_OPEN=1
    flush_all >>"$CASE_DIR/log" 2>&1
}

ok() { _report PASS; }
# fail REASON: outside a case body, reports FAIL; inside `run_case` it ends the case; in
# `case_cleanup` it only returns 1.
fail() {
    if [ "${IN_CASE_BODY:-0}" = 1 ]; then
        _set_reason "$*"
        exit 1
    fi
    [ "${IN_CLEANUP:-0}" = 1 ] && return 1
    _report FAIL "$@"
}
# skip REASON: same for SKIP.
skip() {
    if [ "${IN_CASE_BODY:-0}" = 1 ]; then
        _set_reason "$*"
        exit 77
    fi
    [ "${IN_CLEANUP:-0}" = 1 ] && return 1
    _report SKIP "$@"
}

_set_reason() {
    [ -s "$CASE_DIR/.reason" ] || printf '%s' "$*" >"$CASE_DIR/.reason"
}

# Called by the ERR trap of a case body: the failing command (a tool run by `tpm`/`tool`:
# that tool and what it said on stderr), with the line of the script that ran it.
_on_err() { # _on_err LINE COMMAND
    local line=$1 cmd=$2 why="" i
    if [ "${BASH_SOURCE[1]:-}" = "${BASH_SOURCE[0]}" ]; then
        for ((i = 2; i < ${#BASH_SOURCE[@]}; i++)); do
            if [ "${BASH_SOURCE[i]}" != "${BASH_SOURCE[0]}" ]; then
                line=${BASH_LINENO[i - 1]}
                break
            fi
        done
    fi
    if [[ $cmd == 'return $rc' || $cmd == *'$(tpm '* || $cmd == *'$(tool '* ]] && [ -s "$CASE_DIR/.last" ]; then
        cmd=$(cat "$CASE_DIR/.last") || true
        if [ -s "$CASE_DIR/.stderr" ]; then
            why=$(grep -E '\(0x[0-9A-Fa-f]+\) - ' "$CASE_DIR/.stderr" | tail -n 1) || true
            [ -n "$why" ] || why=$(grep -E 'ERROR' "$CASE_DIR/.stderr" | grep -v 'Unable to run' | tail -n 1) || true
            [ -n "$why" ] || why=$(tail -n 1 "$CASE_DIR/.stderr") || true
        fi
    fi
    _set_reason "line $line: $cmd${why:+ -- $why}"
}

# run_case NAME FUNCTION [ARGS...]: run FUNCTION as the body of case NAME; then, if the
# script defines it, run `case_cleanup` (outside the body: it cannot fail the case) to put
# back whatever state a failed body may have left behind.
run_case() {
    local name=$1 fn=$2
    shift 2
    case_begin "$name"
    (
        IN_CASE_BODY=1
        set -eE -o pipefail
        shopt -s inherit_errexit
        trap '_on_err "$LINENO" "$BASH_COMMAND"' ERR
        "$fn" "$@"
    ) >>"$CASE_DIR/log" 2>&1 </dev/null
    local rc=$?
    if declare -F case_cleanup >/dev/null; then
        echo "== cleanup" >>"$CASE_DIR/log"
        IN_CLEANUP=1
        case_cleanup >>"$CASE_DIR/log" 2>&1 </dev/null
        IN_CLEANUP=0
    fi
    local reason=""
    [ -s "$CASE_DIR/.reason" ] && reason=$(cat "$CASE_DIR/.reason")
    case $rc in
    0) ok ;;
    77) _report SKIP "$reason" ;;
    *) _report FAIL "${reason:-exit status $rc}" ;;
    esac
    cd "$WORK" || exit 1
}

# finish: end of a script (exit status 0 = every case ran).
finish() {
    if [ "$CASE_OPEN" = 1 ]; then
        _report FAIL "case ended without a verdict"
    fi
    cd "$WORK" && flush_all >/dev/null 2>&1
    exit 0
}

# --- the TPM ----------------------------------------------------------------------------

# tpm TOOL ARGS...: flush transient objects, then run the tool; its stderr is kept in
# $CASE_DIR/.stderr (for response codes and failure reasons) and copied to the log.
tpm() {
    tpm2_flushcontext -t >/dev/null 2>&1 || true
    tool "$@"
}

# tool TOOL ARGS...: like `tpm` without the flush (for tools that need an object an earlier
# tool left loaded, or that must not disturb the TPM's handle space).
tool() {
    echo "+ $*" >&2
    printf '%s' "$*" >"$CASE_DIR/.last"
    local rc=0
    "$@" 2>"$CASE_DIR/.stderr" || rc=$?
    cat "$CASE_DIR/.stderr" >&2
    return $rc
}

flush_all() {
    tpm2_flushcontext -t || true
    tpm2_flushcontext -l || true
    tpm2_flushcontext -s || true
}

# The TPM response code of the last failed tool, as 0x<lowercase hex>, or "none".
last_rc() {
    local rc
    rc=$(grep -oE '\((0x[0-9A-Fa-f]+)\) - ' "$CASE_DIR/.stderr" 2>/dev/null | tail -n 1 | grep -oE '0x[0-9A-Fa-f]+') || true
    if [ -n "$rc" ]; then printf '0x%x\n' "$((rc))"; else echo none; fi
}

# expect_rc RC TOOL ARGS...: the tool must fail with TPM response code RC (e.g. 0x98e).
expect_rc() {
    local want
    want=$(printf '0x%x' "$(($1))")
    shift
    if tpm "$@"; then
        fail "$1 succeeded, expected TPM rc $want"
    fi
    local got
    got=$(last_rc)
    [ "$got" = "$want" ] || fail "$1: expected TPM rc $want, got $got -- $(tail -n 1 "$CASE_DIR/.stderr")"
}

# expect_fail TOOL ARGS...: the command must fail (for any reason: a check tool rejecting
# data, an error code the scenario does not pin down) -- but not because the TPM does not
# implement the command (TPM_RC_COMMAND_CODE): that refuses nothing.
expect_fail() {
    if tpm "$@"; then
        fail "$1 succeeded, expected a failure"
    fi
    if [ "$(last_rc)" = 0x143 ]; then
        fail "$1: the TPM does not implement the command (TPM_RC_COMMAND_CODE)"
    fi
    return 0
}

# --- assertions -------------------------------------------------------------------------
# (Case bodies run with pipefail: never pipe a large output into a reader that stops early,
# such as `grep -q` or `head`, the writer would die of SIGPIPE. Use here-strings.)

eq() { # eq ACTUAL EXPECTED WHAT
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}
ne() { # ne A B WHAT
    [ "$1" != "$2" ] || fail "${3:-values}: both are '$1'"
}
match() { # match STRING ERE WHAT
    grep -Eq -- "$2" <<<"$1" || fail "${3:-output}: '${1:0:200}' does not match /$2/"
}
has() { # has FILE ERE WHAT: a line of FILE matches
    grep -Eq -- "$2" "$1" || fail "${3:-$1}: no line matches /$2/"
}
size_is() { # size_is FILE BYTES
    local n
    n=$(stat -c %s "$1" 2>/dev/null || echo missing)
    [ "$n" = "$2" ] || fail "$1: expected $2 bytes, got $n"
}
same_file() { # same_file A B WHAT
    cmp -s "$1" "$2" || fail "${3:-files}: $1 and $2 differ"
}
differ() { # differ A B WHAT
    if cmp -s "$1" "$2"; then fail "${3:-files}: $1 and $2 are equal"; fi
}

# Hex of a file (lowercase, one line).
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# unhex HEX: the bytes that HEX spells, on stdout.
unhex() { printf '%s' "$1" | sed 's/../\\x&/g' | xargs -0 printf '%b'; }
# sha256 (hex) of a file or of stdin.
sha256() { openssl dgst -sha256 -r "$@" | cut -d' ' -f1; }

# The value of `key: value` in YAML-ish tool output (first match, value trimmed).
yaml() { # yaml TEXT KEY
    sed -n -E "s/^[[:space:]]*$2:[[:space:]]*//p" <<<"$1" | sed -n '1s/[[:space:]]*$//p'
}

# The value of `  SUB: value` inside the block `KEY:` of YAML-ish output.
ysub() { # ysub TEXT KEY SUB
    sed -n "/^$2:/,/^[^ ]/p" <<<"$1" | sed -n -E "s/^ +$3:[[:space:]]*//p" | sed -n 1p
}

# A variable property from tpm2_getcap properties-variable, e.g. prop TPM2_PT_LOCKOUT_COUNTER.
prop() {
    tpm2_getcap properties-variable 2>/dev/null | sed -n -E "s/^$1:[[:space:]]*//p" | sed -n 1p
}

# --- TPM state helpers ------------------------------------------------------------------

# Clear the dictionary-attack lockout (empty lockout auth unless given).
da_reset() {
    tpm2_dictionarylockout -c ${1:+-p "$1"} >/dev/null 2>&1 || true
}

# TPM2_Init over the control channel, then TPM2_Startup(CLEAR) (or STATE with `state`).
tpm_reset() {
    [ -n "$TPM_CTRL" ] || skip "no control channel (TPM_CTRL unset)"
    swtpm_ioctl --tcp "$TPM_CTRL" -i >/dev/null || fail "swtpm_ioctl -i failed"
    if [ "${1:-}" = state ]; then
        tpm tpm2_startup
    else
        tpm tpm2_startup -c
    fi
}

# Start the TPM once at the top of a script (an already started TPM is fine).
startup() {
    local out
    out=$(tpm2_startup -c 2>&1) && return 0
    case $out in
    *0x100*) return 0 ;;
    esac
    echo "startup failed: $out" >&2
    return 1
}

# An SRK-like RSA-2048 storage primary in the owner hierarchy -> $1 (default primary.ctx).
primary() {
    tpm tpm2_createprimary -Q -C o -g sha256 -G "${2:-rsa2048}" -c "${1:-primary.ctx}"
}

#!/bin/bash
# Hierarchies: tpm2_changeauth (hierarchies), tpm2_hierarchycontrol, tpm2_setprimarypolicy,
# tpm2_clear, tpm2_clearcontrol, tpm2_changeeps, tpm2_changepps.
. "$(dirname "$0")/lib.sh"
startup || exit 1

# Every case uses these passwords, so that case_cleanup can always put the empty ones back
# (a wrong lockout password would lock the lockout hierarchy out).
OPW=owner-pw EPW=endorsement-pw PPW=platform-pw LPW=lockout-pw

case_cleanup() {
    local v
    v=$(tpm2_getcap properties-variable)
    [ "$(yaml "$v" ownerAuthSet)" = 1 ] && tpm2_changeauth -c o -p "$OPW"
    [ "$(yaml "$v" endorsementAuthSet)" = 1 ] && tpm2_changeauth -c e -p "$EPW"
    [ "$(yaml "$v" lockoutAuthSet)" = 1 ] && tpm2_changeauth -c l -p "$LPW"
    tpm2_changeauth -c p -p "$PPW" 2>/dev/null
    tpm2_setprimarypolicy -C o
    [ "$(yaml "$v" shEnable)" = 0 ] && tpm2_hierarchycontrol -C p shEnable set
    [ "$(yaml "$v" ehEnable)" = 0 ] && tpm2_hierarchycontrol -C p ehEnable set
    [ "$(yaml "$v" phEnableNV)" = 0 ] && tpm2_hierarchycontrol -C p phEnableNV set
    [ "$(yaml "$v" disableClear)" = 1 ] && tpm2_clearcontrol -C p c
    if [ "$(yaml "$v" phEnable)" = 0 ]; then
        tpm2_shutdown -c
        tpm_reset
    fi
    tpm2_flushcontext -t
}

# The public area of a primary ECC key of hierarchy $1 (extra args: auth) -> file $2.
primary_pub() {
    local h=$1 out=$2
    shift 2
    tpm tpm2_createprimary -C "$h" -G ecc256 -c "$out.ctx" "$@"
    tpm tpm2_readpublic -c "$out.ctx" -o "$out"
}

flag() { yaml "$(tpm tpm2_getcap properties-variable)" "$1"; }

c_changeauth_owner() {
    tpm tpm2_changeauth -c o "$OPW"
    eq "$(flag ownerAuthSet)" 1 "ownerAuthSet"
    expect_rc 0x9a2 tpm2_createprimary -C o -G ecc256 -c p.ctx
    tpm tpm2_createprimary -C o -P "$OPW" -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c o -p "$OPW"
    eq "$(flag ownerAuthSet)" 0 "ownerAuthSet after removing the password"
    tpm tpm2_createprimary -C o -G ecc256 -c p.ctx
}

c_changeauth_endorsement() {
    tpm tpm2_changeauth -c e "$EPW"
    eq "$(flag endorsementAuthSet)" 1 "endorsementAuthSet"
    expect_rc 0x9a2 tpm2_createprimary -C e -G ecc256 -c p.ctx
    tpm tpm2_createprimary -C e -P "$EPW" -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c e -p "$EPW"
    eq "$(flag endorsementAuthSet)" 0 "endorsementAuthSet"
}

c_changeauth_platform() {
    tpm tpm2_changeauth -c p "$PPW"
    expect_rc 0x9a2 tpm2_createprimary -C p -G ecc256 -c p.ctx
    tpm tpm2_createprimary -C p -P "$PPW" -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c p -p "$PPW"
    tpm tpm2_createprimary -C p -G ecc256 -c p.ctx
}

c_changeauth_lockout() {
    tpm tpm2_changeauth -c l "$LPW"
    eq "$(flag lockoutAuthSet)" 1 "lockoutAuthSet"
    tpm tpm2_dictionarylockout -c -p "$LPW"
    tpm tpm2_changeauth -c l -p "$LPW"
    eq "$(flag lockoutAuthSet)" 0 "lockoutAuthSet"
}

c_changeauth_password_forms() {
    # hex: and file: passwords are the same bytes as the string form.
    tpm tpm2_changeauth -c o "hex:$(printf '%s' "$OPW" | od -An -tx1 | tr -d ' \n')"
    tpm tpm2_createprimary -C o -P "$OPW" -G ecc256 -c p.ctx
    printf '%s' "$OPW" >pw.txt
    tpm tpm2_createprimary -C o -P file:pw.txt -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c o -p file:pw.txt
}

c_changeauth_owner_twice() {
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_changeauth -c o -p "$OPW" "$OPW.2"
    expect_rc 0x9a2 tpm2_createprimary -C o -P "$OPW" -G ecc256 -c p.ctx
    tpm tpm2_createprimary -C o -P "$OPW.2" -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c o -p "$OPW.2" "$OPW"
    tpm tpm2_changeauth -c o -p "$OPW"
}

c_owner_auth_hmac_session() {
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_startauthsession --hmac-session -S s.ctx
    tpm tpm2_createprimary -C o -P "session:s.ctx+$OPW" -G ecc256 -c p.ctx
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_startauthsession --hmac-session -S s2.ctx
    expect_rc 0x9a2 tpm2_createprimary -C o -P "session:s2.ctx+wrong" -G ecc256 -c p.ctx
    tpm2_flushcontext s2.ctx 2>/dev/null || true
    tpm tpm2_changeauth -c o -p "$OPW"
}

c_owner_auth_bound_session() {
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_startauthsession --hmac-session --bind-context o --bind-auth "$OPW" -S s.ctx
    tpm tpm2_createprimary -C o -P "session:s.ctx+$OPW" -G ecc256 -c p.ctx
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_changeauth -c o -p "$OPW"
}

c_hierarchycontrol_storage() {
    tpm tpm2_hierarchycontrol -C p shEnable clear
    eq "$(flag shEnable)" 0 "shEnable"
    expect_rc 0x185 tpm2_createprimary -C o -G ecc256 -c p.ctx
    # The other hierarchies still work.
    tpm tpm2_createprimary -C e -G ecc256 -c e.ctx
    tpm tpm2_hierarchycontrol -C p shEnable set
    eq "$(flag shEnable)" 1 "shEnable"
    tpm tpm2_createprimary -C o -G ecc256 -c p.ctx
}

c_hierarchycontrol_endorsement_by_owner() {
    # The owner may disable the endorsement hierarchy... not: only its own (shEnable) or
    # with endorsement auth (ehEnable); enabling needs the platform.
    tpm tpm2_hierarchycontrol -C e ehEnable clear
    eq "$(flag ehEnable)" 0 "ehEnable"
    expect_rc 0x185 tpm2_createprimary -C e -G ecc256 -c p.ctx
    tpm tpm2_hierarchycontrol -C p ehEnable set
    eq "$(flag ehEnable)" 1 "ehEnable"
}

c_hierarchycontrol_owner_disables_itself() {
    tpm tpm2_hierarchycontrol -C o shEnable clear
    eq "$(flag shEnable)" 0 "shEnable"
    tpm tpm2_hierarchycontrol -C p shEnable set
}

c_hierarchycontrol_objects_unusable() {
    # Objects of a disabled hierarchy cannot be used (loaded persistent ones included).
    tpm tpm2_createprimary -C o -G ecc256 -c p.ctx
    tpm tpm2_evictcontrol -C o -c p.ctx 0x81000020
    tpm tpm2_hierarchycontrol -C p shEnable clear
    expect_fail tpm2_create -C 0x81000020 -G ecc256 -u k.pub -r k.priv
    tpm tpm2_hierarchycontrol -C p shEnable set
    tpm tpm2_create -C 0x81000020 -G ecc256 -u k.pub -r k.priv
    tpm tpm2_evictcontrol -C o -c 0x81000020
}

c_hierarchycontrol_platform_until_reset() {
    tpm tpm2_hierarchycontrol -C p phEnable clear
    eq "$(flag phEnable)" 0 "phEnable"
    expect_rc 0x185 tpm2_createprimary -C p -G ecc256 -c p.ctx
    # Only a TPM Reset brings the platform hierarchy back.
    tpm tpm2_shutdown -c
    tpm_reset
    eq "$(flag phEnable)" 1 "phEnable after reset"
    tpm tpm2_createprimary -C p -G ecc256 -c p.ctx
}

c_setprimarypolicy_owner() {
    # Owner policy: PolicyCommandCode(CreatePrimary).
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx -L cc.policy TPM2_CC_CreatePrimary
    tpm tpm2_flushcontext t.ctx
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_setprimarypolicy -C o -P "$OPW" -L cc.policy -g sha256
    # The owner password is unknown to this user: a policy session satisfies CreatePrimary.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_CreatePrimary
    tpm tpm2_createprimary -C o -P session:s.ctx -G ecc256 -c p.ctx
    tpm tpm2_flushcontext s.ctx
    # A policy for another command does not.
    tpm tpm2_startauthsession --policy-session -S s2.ctx
    tpm tpm2_policycommandcode -S s2.ctx TPM2_CC_Create
    expect_rc 0x99d tpm2_createprimary -C o -P session:s2.ctx -G ecc256 -c p.ctx
    tpm2_flushcontext s2.ctx 2>/dev/null || true
    # No policy: an empty digest with TPM_ALG_NULL.
    tpm tpm2_setprimarypolicy -C o -P "$OPW"
    tpm tpm2_changeauth -c o -p "$OPW"
}

c_setprimarypolicy_endorsement_wrong_digest_size() {
    printf '0123456789abcdef0123' >short.policy
    # A 20-byte digest with sha256: TPM_RC_SIZE (parameter 1).
    expect_rc 0x1d5 tpm2_setprimarypolicy -C e -L short.policy -g sha256
}

c_clear_owner() {
    primary_pub o before.pub
    tpm tpm2_evictcontrol -C o -c before.pub.ctx 0x81000030
    primary_pub e ek.pub
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_clear
    v=$(tpm tpm2_getcap properties-variable)
    eq "$(yaml "$v" ownerAuthSet)" 0 "ownerAuthSet after clear"
    expect_rc 0x18b tpm2_readpublic -c 0x81000030
    primary_pub o after.pub
    differ before.pub after.pub "owner primary after clear (new storage seed)"
    primary_pub e ek2.pub
    same_file ek.pub ek2.pub "endorsement primary after clear"
}

c_clear_with_lockout_auth() {
    tpm tpm2_changeauth -c l "$LPW"
    tpm tpm2_clear "$LPW"
    eq "$(flag lockoutAuthSet)" 0 "lockoutAuthSet after clear"
}

c_clear_platform() {
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_clear -c p
    eq "$(flag ownerAuthSet)" 0 "ownerAuthSet after clear"
}

c_clearcontrol() {
    tpm tpm2_clearcontrol -C l s
    eq "$(flag disableClear)" 1 "disableClear"
    expect_rc 0x120 tpm2_clear
    tpm tpm2_clearcontrol -C p c
    eq "$(flag disableClear)" 0 "disableClear"
    tpm tpm2_clear
}

c_clearcontrol_lockout_cannot_enable() {
    tpm tpm2_clearcontrol -C l s
    # Only the platform can re-enable Clear (TPM_RC_AUTH_FAIL... refused either way).
    expect_fail tpm2_clearcontrol -C l c
    eq "$(flag disableClear)" 1 "disableClear"
    tpm tpm2_clearcontrol -C p c
}

c_changeeps() {
    primary_pub e ek1.pub
    primary_pub o srk1.pub
    tpm tpm2_changeauth -c e "$EPW"
    tpm tpm2_changeeps
    eq "$(flag endorsementAuthSet)" 0 "endorsementAuthSet after ChangeEPS"
    primary_pub e ek2.pub
    differ ek1.pub ek2.pub "endorsement primary after ChangeEPS"
    primary_pub o srk2.pub
    same_file srk1.pub srk2.pub "owner primary after ChangeEPS"
}

c_changepps() {
    primary_pub p pk1.pub
    primary_pub e ek1.pub
    tpm tpm2_changepps
    primary_pub p pk2.pub
    differ pk1.pub pk2.pub "platform primary after ChangePPS"
    primary_pub e ek2.pub
    same_file ek1.pub ek2.pub "endorsement primary after ChangePPS"
}

c_changeeps_needs_platform_auth() {
    tpm tpm2_changeauth -c p "$PPW"
    expect_rc 0x9a2 tpm2_changeeps
    tpm tpm2_changeeps -p "$PPW"
    tpm tpm2_changeauth -c p -p "$PPW"
}

c_null_hierarchy_new_seed_each_reset() {
    primary_pub n n1.pub
    primary_pub n n2.pub
    same_file n1.pub n2.pub "null primary within one reset cycle"
    tpm tpm2_shutdown -c
    tpm_reset
    primary_pub n n3.pub
    differ n1.pub n3.pub "null primary after TPM Reset"
}

c_auth_survives_reset() {
    tpm tpm2_changeauth -c o "$OPW"
    tpm tpm2_shutdown -c
    tpm_reset
    eq "$(flag ownerAuthSet)" 1 "ownerAuthSet after reset"
    tpm tpm2_createprimary -C o -P "$OPW" -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c o -p "$OPW"
}

c_platform_auth_reset_by_startup() {
    # Platform auth is volatile: Startup(CLEAR) empties it.
    tpm tpm2_changeauth -c p "$PPW"
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_createprimary -C p -G ecc256 -c p.ctx
}

run_case changeauth_owner c_changeauth_owner
run_case changeauth_endorsement c_changeauth_endorsement
run_case changeauth_platform c_changeauth_platform
run_case changeauth_lockout c_changeauth_lockout
run_case changeauth_password_forms c_changeauth_password_forms
run_case changeauth_owner_twice c_changeauth_owner_twice
run_case owner_auth_hmac_session c_owner_auth_hmac_session
run_case owner_auth_bound_session c_owner_auth_bound_session
run_case hierarchycontrol_storage c_hierarchycontrol_storage
run_case hierarchycontrol_endorsement c_hierarchycontrol_endorsement_by_owner
run_case hierarchycontrol_owner_disables_itself c_hierarchycontrol_owner_disables_itself
run_case hierarchycontrol_objects_unusable c_hierarchycontrol_objects_unusable
run_case hierarchycontrol_platform_until_reset c_hierarchycontrol_platform_until_reset
run_case setprimarypolicy_owner c_setprimarypolicy_owner
run_case setprimarypolicy_wrong_digest_size c_setprimarypolicy_endorsement_wrong_digest_size
run_case clear_owner c_clear_owner
run_case clear_with_lockout_auth c_clear_with_lockout_auth
run_case clear_platform c_clear_platform
run_case clearcontrol c_clearcontrol
run_case clearcontrol_lockout_cannot_enable c_clearcontrol_lockout_cannot_enable
run_case changeeps c_changeeps
run_case changepps c_changepps
run_case changeeps_needs_platform_auth c_changeeps_needs_platform_auth
run_case null_hierarchy_new_seed_each_reset c_null_hierarchy_new_seed_each_reset
run_case auth_survives_reset c_auth_survives_reset
run_case platform_auth_reset_by_startup c_platform_auth_reset_by_startup
finish

//! Physical presence (Part 1, "Physical Presence"; Part 3, 26.2): the list of
//! commands that, authorized with the platform hierarchy, also need the
//! platform to assert physical presence.

use alloc::vec::Vec;

use crate::engine::Engine;

pub const CC_PP_COMMANDS: u32 = 0x0000_012D;

/// Commands that may be put in the PP list: those whose authorization may be
/// platformAuth (the reference's PP_COMMAND attribute), ascending.
/// NV_DefineSpace2 takes TPMI_RH_PROVISION as NV_DefineSpace does.
const PP_ALLOWED: [u32; 21] = [
    0x11F, // NV_UndefineSpaceSpecial
    0x120, // EvictControl
    0x121, // HierarchyControl
    0x122, // NV_UndefineSpace
    0x124, // ChangeEPS
    0x125, // ChangePPS
    0x126, // Clear
    0x127, // ClearControl
    0x128, // ClockSet
    0x129, // HierarchyChangeAuth
    0x12A, // NV_DefineSpace
    0x12B, // PCR_Allocate
    0x12C, // PCR_SetAuthPolicy
    0x12E, // SetPrimaryPolicy
    0x12F, // FieldUpgradeStart
    0x130, // ClockRateAdjust
    0x131, // CreatePrimary
    0x132, // NV_GlobalWriteLock
    0x140, // SetCommandCodeAuditStatus
    0x191, // CreateLoaded
    0x19D, // NV_DefineSpace2
];

/// The list at manufacture: PP_Commands itself, which always requires PP.
pub fn default_list() -> Vec<u32> {
    alloc::vec![CC_PP_COMMANDS]
}

impl Engine {
    /// Whether `cc`, authorized with the platform hierarchy, needs physical presence.
    pub fn pp_required(&self, cc: u32) -> bool {
        self.perm.pp_list.binary_search(&cc).is_ok()
    }

    /// Adds `cc` to the PP list; commands that cannot require PP, or are not
    /// implemented, are ignored (as the reference does).
    pub(crate) fn pp_set(&mut self, cc: u32) {
        if !PP_ALLOWED.contains(&cc) || crate::table::lookup(cc).is_none() {
            return;
        }
        if let Err(i) = self.perm.pp_list.binary_search(&cc) {
            self.perm.pp_list.insert(i, cc);
        }
    }

    /// Removes `cc` from the PP list; PP_Commands always stays.
    pub(crate) fn pp_clear(&mut self, cc: u32) {
        if cc == CC_PP_COMMANDS {
            return;
        }
        self.perm.pp_list.retain(|c| *c != cc);
    }
}

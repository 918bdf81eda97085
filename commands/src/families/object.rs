//! Object commands (Part 3, section 12): Create, Load, LoadExternal, ReadPublic,
//! ObjectChangeAuth, CreateLoaded, Unseal; and what CreatePrimary shares with them.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint32;
use vtpm_crypto::{CtrDrbg, HashAlg};

use crate::consts::{HT_PERMANENT, RH_NULL};
use crate::engine::Engine;
use crate::families::pcr::{Selection, read_selections};
use crate::object::create::{self, SensitiveCreate};
use crate::object::protect::Protector;
use crate::object::public::{
    DECRYPT, FIXED_PARENT, FIXED_TPM, Parms, Public, RESTRICTED, SENSITIVE_DATA_ORIGIN, SIGN,
    Unique, put2b,
};
use crate::object::{MAX_LOADED_OBJECTS, MAX_SYM_DATA, Object, Sensitive, alg, qualified_name};
use crate::pipeline::Ctx;
use crate::platform::Platform;
use crate::rc::Rc;
use crate::secret::Secret;
use crate::ticket::ST_CREATION;

/// TPM_ST_CREATION.
/// Largest TPM2B_PRIVATE contents.
pub(crate) const MAX_PRIVATE: usize = 1024;
/// TPM2B_DATA (outsideInfo).
const MAX_DATA: usize = 64;

/// Where a new object comes from.
#[derive(Clone, Copy)]
pub(crate) enum Origin {
    /// A primary object of this hierarchy.
    Primary(u32),
    /// An ordinary object under this storage parent.
    Child(u32),
    /// A derived object under this derivation parent.
    Derived(u32),
}

/// A fresh object before it is loaded or wrapped.
pub(crate) struct Created {
    pub public: Public,
    pub sensitive: Sensitive,
    pub name: Vec<u8>,
    pub qualified_name: Vec<u8>,
    pub hierarchy: u32,
}

impl Engine {
    /// The object a handle names, or TPM_RC_HANDLE.
    pub(crate) fn object_or_err(&self, handle: u32) -> Result<&Object, Rc> {
        self.object(handle).ok_or(Rc::HANDLE)
    }

    /// Validates a template against its origin and generates the object.
    /// Errors carry the parameter they concern (1 = inSensitive, 2 = inPublic).
    pub(crate) fn create_object(
        &mut self,
        platform: &mut dyn Platform,
        origin: Origin,
        sens: &SensitiveCreate,
        mut public: Public,
    ) -> Result<Created, Rc> {
        let parent = match origin {
            Origin::Primary(_) => None,
            Origin::Child(h) | Origin::Derived(h) => Some(self.object_or_err(h)?.clone()),
        };
        match origin {
            Origin::Derived(_) => {
                // Part 3, 12.9: a derived object takes no sensitive data origin
                // and is never RSA (no derivation for primes is defined).
                if public.has(SENSITIVE_DATA_ORIGIN) {
                    return Err(Rc::ATTRIBUTES);
                }
                if public.object_type == alg::RSA {
                    return Err(Rc::TYPE.param(2));
                }
                create::validate_public(parent.as_ref(), &public).map_err(|rc| rc.param(2))?;
                // inSensitive.data may carry a TPMS_DERIVE whose non-empty label
                // and context replace the template's.
                if !sens.data.is_empty() {
                    let mut r = crate::object::public::Reader::new(sens.data.as_bytes());
                    let label = r
                        .tpm2b(crate::object::public::LABEL_MAX_BUFFER)
                        .map_err(|rc| rc.param(1))?;
                    let context = r
                        .tpm2b(crate::object::public::LABEL_MAX_BUFFER)
                        .map_err(|rc| rc.param(1))?;
                    if !r.is_empty() {
                        return Err(Rc::SIZE.param(1));
                    }
                    if let Unique::Derive {
                        label: l,
                        context: c,
                    } = &mut public.unique
                    {
                        if !label.is_empty() {
                            *l = label.to_vec();
                        }
                        if !context.is_empty() {
                            *c = context.to_vec();
                        }
                    }
                }
            }
            _ => create::create_checks(parent.as_ref(), &public, sens.data.len())
                .map_err(|(rc, n)| rc.param(n))?,
        }
        let name_alg = public.name_alg.ok_or(Rc::HASH.param(2))?;
        let template_name = public.name();
        let mut rng: CtrDrbg = match origin {
            Origin::Primary(h) => create::primary_drbg(
                name_alg,
                self.primary_seed(h),
                &template_name,
                sens.data.as_bytes(),
            )?,
            Origin::Child(_) => self.fresh_drbg(platform)?,
            Origin::Derived(_) => {
                let p = parent.as_ref().ok_or(Rc::FAILURE)?;
                let (Unique::Derive { label, context }, Parms::KeyedHash { scheme }) =
                    (&public.unique, &p.public.parms)
                else {
                    return Err(Rc::TYPE.handle(1));
                };
                let kdf_hash = HashAlg::from_alg_id(scheme.hash).ok_or(Rc::HASH.handle(1))?;
                let secret = p.sensitive.as_ref().ok_or(Rc::TYPE.handle(1))?;
                create::derived_drbg(
                    kdf_hash,
                    secret.secret.as_bytes(),
                    label,
                    context,
                    &template_name,
                )?
            }
        };
        let derived = matches!(origin, Origin::Derived(_));
        let sensitive = create::generate(&mut public, sens, &mut rng, derived)?;
        let name = public.name();
        let (hierarchy, parent_qn) = match (&origin, &parent) {
            (Origin::Primary(h), _) => (*h, h.to_be_bytes().to_vec()),
            (_, Some(p)) => (p.hierarchy, p.qualified_name.clone()),
            _ => return Err(Rc::FAILURE),
        };
        let qualified_name = qualified_name(name_alg, &parent_qn, &name);
        Ok(Created {
            public,
            sensitive,
            name,
            qualified_name,
            hierarchy,
        })
    }

    /// Puts an object in a free transient slot and returns its handle.
    pub(crate) fn load_object(&mut self, mut object: Object) -> Result<u32, Rc> {
        let handle = self.free_transient_handle()?;
        if object.public.name_alg.is_none() {
            object.name = handle.to_be_bytes().to_vec();
        }
        object.handle = handle;
        self.objects.push(object);
        Ok(handle)
    }

    /// Loads a freshly created object (CreatePrimary, CreateLoaded).
    pub(crate) fn load_created(&mut self, created: Created) -> Result<u32, Rc> {
        self.load_object(Object {
            handle: 0,
            public: created.public,
            name: created.name,
            qualified_name: created.qualified_name,
            sensitive: Some(created.sensitive),
            hierarchy: created.hierarchy,
        })
    }

    /// A DRBG seeded from the TPM's RNG, for key generation and RSA blinding.
    pub(crate) fn fresh_drbg(&mut self, platform: &mut dyn Platform) -> Result<CtrDrbg, Rc> {
        let mut entropy = zeroize::Zeroizing::new([0u8; 48]);
        self.random(platform, &mut entropy[..])?;
        CtrDrbg::instantiate(&entropy[..], &[], b"vtpm object").map_err(|_| Rc::FAILURE)
    }

    /// Fails early when no transient slot is free.
    pub(crate) fn need_object_slot(&self) -> Result<(), Rc> {
        if self.transient_in_use() >= MAX_LOADED_OBJECTS {
            Err(Rc::OBJECT_MEMORY)
        } else {
            Ok(())
        }
    }

    /// The digest of the selected, allocated PCRs, and the selection actually used.
    pub(crate) fn pcr_digest(
        &self,
        alg: HashAlg,
        selections: &[Selection],
    ) -> (Vec<u8>, vtpm_crypto::Digest) {
        let mut h = vtpm_crypto::Hasher::new(alg);
        let mut echoed = Vec::new();
        echoed.extend_from_slice(&(selections.len() as u32).to_be_bytes());
        for sel in selections {
            let mut bits = 0u32;
            for pcr in 0..crate::consts::PCR_COUNT {
                if sel.bits & (1 << pcr) != 0 && self.pcr_allocated(sel.alg, pcr) {
                    bits |= 1 << pcr;
                    if let Some(v) = self
                        .banks
                        .get(crate::pcr::bank_index(sel.alg))
                        .and_then(|b| b.values.get(pcr))
                    {
                        h.update(v.as_bytes());
                    }
                }
            }
            echoed.extend_from_slice(&sel.alg.alg_id().to_be_bytes());
            echoed.push(crate::consts::PCR_SELECT_MIN as u8);
            echoed.extend_from_slice(
                bits.to_le_bytes()
                    .get(..crate::consts::PCR_SELECT_MIN)
                    .unwrap_or_default(),
            );
        }
        (echoed, h.finalize())
    }

    /// TPMS_CREATION_DATA, its hash and the creation ticket (Part 3, 12.1 / 24.1).
    pub(crate) fn creation_outputs(
        &self,
        locality: u8,
        parent_handle: u32,
        created: &Created,
        outside_info: &[u8],
        selections: &[Selection],
    ) -> (Vec<u8>, vtpm_crypto::Digest, Vec<u8>) {
        let name_alg = created.public.name_alg.unwrap_or(HashAlg::Sha256);
        let (pcr_select, pcr_digest) = self.pcr_digest(name_alg, selections);
        let mut data = pcr_select;
        put2b(&mut data, pcr_digest.as_bytes());
        data.push(1u8 << locality.min(4));
        if (parent_handle >> 24) as u8 == HT_PERMANENT {
            data.extend_from_slice(&alg::NULL.to_be_bytes());
            put2b(&mut data, &parent_handle.to_be_bytes());
            put2b(&mut data, &parent_handle.to_be_bytes());
        } else {
            let parent = self.object(parent_handle);
            let parent_alg = parent
                .and_then(|p| p.public.name_alg)
                .map_or(alg::NULL, |a| a.alg_id());
            data.extend_from_slice(&parent_alg.to_be_bytes());
            put2b(&mut data, parent.map_or(&[][..], |p| &p.name));
            put2b(&mut data, parent.map_or(&[][..], |p| &p.qualified_name));
        }
        put2b(&mut data, outside_info);
        let creation_hash = name_alg.digest(&[&data]);
        let ticket =
            self.creation_ticket(created.hierarchy, &created.name, creation_hash.as_bytes());
        let mut data_2b = Vec::with_capacity(data.len() + 2);
        put2b(&mut data_2b, &data);
        (data_2b, creation_hash, ticket)
    }

    /// TPMT_TK_CREATION: HMAC(proof, TPM_ST_CREATION || name || creationHash).
    pub(crate) fn creation_ticket(
        &self,
        hierarchy: u32,
        name: &[u8],
        creation_hash: &[u8],
    ) -> Vec<u8> {
        self.make_ticket(ST_CREATION, hierarchy, &[name, creation_hash])
            .to_bytes()
    }
}

/// Reads a TPM2B_SENSITIVE_CREATE (a zero size is TPM_RC_SIZE).
pub(crate) fn read_sensitive_create(ctx: &mut Ctx<'_>) -> Result<SensitiveCreate, Rc> {
    ctx.params
        .read_sized(SensitiveCreate::parse_from)?
        .ok_or(Rc::SIZE.param(ctx.params.index()))
}

/// Reads a TPM2B_PUBLIC (or TPM2B_TEMPLATE) parameter; a zero size is
/// TPM_RC_SIZE.
pub(crate) fn read_public(
    ctx: &mut Ctx<'_>,
    null_name_ok: bool,
    derive: bool,
) -> Result<Public, Rc> {
    ctx.params
        .read_sized(|r| Public::parse_from(r, null_name_ok, derive))?
        .ok_or(Rc::SIZE.param(ctx.params.index()))
}

/// The creation inputs after inSensitive and inPublic: outsideInfo, creationPCR.
pub(crate) fn read_creation_inputs(ctx: &mut Ctx<'_>) -> Result<(Vec<u8>, Vec<Selection>), Rc> {
    let outside = ctx.params.read_2b(MAX_DATA)?.to_vec();
    let selections = read_selections(ctx)?;
    ctx.params.finish()?;
    Ok((outside, selections))
}

/// Writes the common creation outputs: outPublic, creationData, creationHash,
/// creationTicket.
fn write_creation(
    ctx: &mut Ctx<'_>,
    parent: u32,
    created: &Created,
    outside: &[u8],
    selections: &[Selection],
) {
    let (data, hash, ticket) =
        ctx.engine
            .creation_outputs(ctx.locality, parent, created, outside, selections);
    ctx.out.bytes(&created.public.marshal_2b());
    ctx.out.bytes(&data);
    ctx.out.tpm2b(hash.as_bytes());
    ctx.out.bytes(&ticket);
}

fn wrap_for(engine: &Engine, parent: u32, created: &Created) -> Result<Vec<u8>, Rc> {
    let parent = engine.object_or_err(parent)?;
    let sens = created.sensitive.marshal(created.public.object_type);
    Protector::of(parent)?.wrap(&created.name, &sens)
}

/// TPM2_Create (Part 3, 12.1): a new ordinary object under a storage parent,
/// returned wrapped (outPrivate) and not loaded.
pub fn create(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let parent = ctx.handles[0];
    let sens = read_sensitive_create(ctx)?;
    let public = read_public(ctx, false, false)?;
    let (outside, selections) = read_creation_inputs(ctx)?;
    let p = ctx.engine.object_or_err(parent)?;
    if !p.is_storage_parent() {
        return Err(Rc::TYPE.handle(1));
    }
    let created = ctx
        .engine
        .create_object(ctx.platform, Origin::Child(parent), &sens, public)?;
    let private = wrap_for(ctx.engine, parent, &created)?;
    ctx.out.tpm2b(&private);
    write_creation(ctx, parent, &created, &outside, &selections);
    Ok(())
}

/// TPM2_CreateLoaded (Part 3, 12.9): a primary, ordinary or derived object,
/// loaded at once.
pub fn create_loaded(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let parent = ctx.handles[0];
    let sens = read_sensitive_create(ctx)?;
    let derive = ctx
        .engine
        .object(parent)
        .is_some_and(|p| p.is_derivation_parent());
    let public = read_public(ctx, false, derive)?;
    ctx.params.finish()?;
    ctx.engine.need_object_slot()?;
    let origin = if (parent >> 24) as u8 == HT_PERMANENT {
        Origin::Primary(parent)
    } else if derive {
        Origin::Derived(parent)
    } else {
        if !ctx.engine.object_or_err(parent)?.is_storage_parent() {
            return Err(Rc::TYPE.handle(1));
        }
        Origin::Child(parent)
    };
    let created = ctx
        .engine
        .create_object(ctx.platform, origin, &sens, public)?;
    // Only ordinary objects come back wrapped: primary and derived objects are
    // re-created from their seed (Part 3, 12.9).
    let private = match origin {
        Origin::Child(_) => wrap_for(ctx.engine, parent, &created)?,
        Origin::Primary(_) | Origin::Derived(_) => Vec::new(),
    };
    let public_2b = created.public.marshal_2b();
    let name = created.name.clone();
    ctx.response_handle = Some(ctx.engine.load_created(created)?);
    ctx.out.tpm2b(&private);
    ctx.out.bytes(&public_2b);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// TPM2_Load (Part 3, 12.2): loads an object created under `parentHandle`;
/// the private area must verify under that parent.
pub fn load(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let parent_handle = ctx.handles[0];
    let private = ctx.params.read_2b(MAX_PRIVATE)?.to_vec();
    let public = read_public(ctx, false, false)?;
    ctx.params.finish()?;
    if private.is_empty() {
        return Err(Rc::SIZE.param(1));
    }
    ctx.engine.need_object_slot()?;
    let parent = ctx.engine.object_or_err(parent_handle)?;
    if !parent.is_storage_parent() && !parent.is_derivation_parent() {
        return Err(Rc::TYPE.handle(1));
    }
    create::validate_public(Some(parent), &public).map_err(|rc| rc.param(2))?;
    let name = public.name();
    let sens_bytes = Protector::of(parent)?
        .unwrap(&name, &private)
        .map_err(|rc| rc.param(1))?;
    let (t, sensitive) =
        crate::object::Sensitive::parse(&sens_bytes).map_err(|_| Rc::SENSITIVE.param(1))?;
    if t != public.object_type {
        return Err(Rc::TYPE.param(2));
    }
    create::check_binding(&public, &sensitive).map_err(|rc| rc.param(2))?;
    let name_alg = public.name_alg.ok_or(Rc::HASH.param(2))?;
    let object = Object {
        handle: 0,
        qualified_name: qualified_name(name_alg, &parent.qualified_name, &name),
        hierarchy: parent.hierarchy,
        public,
        name: name.clone(),
        sensitive: Some(sensitive),
    };
    let handle = ctx.engine.load_object(object)?;
    ctx.response_handle = Some(handle);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// TPM2_LoadExternal (Part 3, 12.3): a public key, or a key pair in the clear,
/// loaded into a hierarchy (NULL when the private part is given).
pub fn load_external(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let private = ctx
        .params
        .read_sized(crate::object::Sensitive::parse_from)?;
    let public = read_public(ctx, true, false)?;
    let hierarchy = ctx.params.read::<TpmUint32>()?.value();
    if !matches!(
        hierarchy,
        crate::consts::RH_OWNER
            | crate::consts::RH_ENDORSEMENT
            | crate::consts::RH_PLATFORM
            | RH_NULL
    ) {
        return Err(Rc::VALUE.param(3));
    }
    ctx.params.finish()?;
    ctx.engine.need_object_slot()?;
    if !ctx.engine.hierarchy_enabled(hierarchy) {
        return Err(Rc::HIERARCHY.param(3));
    }
    let sensitive = match private {
        None => None,
        Some((t, s)) => {
            if hierarchy != RH_NULL {
                return Err(Rc::HIERARCHY.param(3));
            }
            if public.has(FIXED_TPM) || public.has(FIXED_PARENT) || public.has(RESTRICTED) {
                return Err(Rc::ATTRIBUTES.param(2));
            }
            if t != public.object_type {
                return Err(Rc::TYPE.param(1));
            }
            Some(s)
        }
    };
    create::scheme_checks(None, &public).map_err(|rc| rc.param(2))?;
    match &sensitive {
        Some(s) => create::check_binding(&public, s).map_err(|rc| rc.param(1))?,
        None => create::check_public_key(&public).map_err(|rc| rc.param(2))?,
    }
    let name = public.name();
    // An external object's qualified name is its name (as libtpms reports it).
    let qn = name.clone();
    let handle = ctx.engine.load_object(Object {
        handle: 0,
        public,
        name: name.clone(),
        qualified_name: qn,
        sensitive,
        hierarchy,
    })?;
    ctx.response_handle = Some(handle);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// TPM2_ReadPublic (Part 3, 12.4).
pub fn read_public_cmd(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let o = ctx.engine.object_or_err(ctx.handles[0])?;
    let public = o.public.marshal_2b();
    let name = o.name.clone();
    let qn = o.qualified_name.clone();
    ctx.out.bytes(&public);
    ctx.out.tpm2b(&name);
    ctx.out.tpm2b(&qn);
    Ok(())
}

/// TPM2_ObjectChangeAuth (Part 3, 12.6): the object wrapped again under its
/// parent with a new authValue; the loaded object keeps the old one.
pub fn object_change_auth(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [object_handle, parent_handle, _] = ctx.handles;
    let new_auth = Secret::new(ctx.params.read_2b(crate::object::public::MAX_DIGEST)?);
    ctx.params.finish()?;
    let object = ctx.engine.object_or_err(object_handle)?;
    let name_alg = object.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    if crate::pipeline::trim_trailing_zeros(new_auth.as_bytes()).len() > name_alg.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    let parent = ctx.engine.object_or_err(parent_handle)?;
    if qualified_name(name_alg, &parent.qualified_name, &object.name) != object.qualified_name {
        return Err(Rc::TYPE.handle(2));
    }
    let mut sensitive = object.sensitive.clone().ok_or(Rc::TYPE.handle(1))?;
    sensitive.auth = Secret::new(crate::pipeline::trim_trailing_zeros(new_auth.as_bytes()));
    let bytes = sensitive.marshal(object.public.object_type);
    let private = Protector::of(parent)?.wrap(&object.name, &bytes)?;
    ctx.out.tpm2b(&private);
    Ok(())
}

/// TPM2_Unseal (Part 3, 12.7): the data of a sealed data object.
pub fn unseal(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let o = ctx.engine.object_or_err(ctx.handles[0])?;
    if o.public.object_type != alg::KEYEDHASH {
        return Err(Rc::TYPE.handle(1));
    }
    if o.public.has(DECRYPT) || o.public.has(SIGN) || o.public.has(RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let data = o
        .sensitive
        .as_ref()
        .ok_or(Rc::TYPE.handle(1))?
        .secret
        .clone();
    if data.len() > MAX_SYM_DATA {
        return Err(Rc::SIZE);
    }
    ctx.out.tpm2b(data.as_bytes());
    Ok(())
}

//! `wasmcloud:secrets/store` and `wasmcloud:secrets/reveal` (0.1.0-draft, wasmCloud's WIT),
//! served by the host from the component's secrets as the host resolved them when the
//! revision was applied: `get(name)` hands out a handle, `reveal` its value. Values are never
//! logged; a name the spec does not reference is `not-found`.

mod bindings {
    wasmtime::component::bindgen!({
        inline: "
            package wasmcloud:secrets@0.1.0-draft;

            interface store {
                variant secrets-error {
                    upstream(string),
                    io(string),
                    not-found,
                }
                variant secret-value {
                    %string(string),
                    bytes(list<u8>),
                }
                resource secret;
                get: func(key: string) -> result<secret, secrets-error>;
            }

            interface reveal {
                use store.{secret, secret-value};
                reveal: func(s: borrow<secret>) -> secret-value;
            }

            world imports {
                import store;
                import reveal;
            }
        ",
        world: "imports",
        with: {
            "wasmcloud:secrets/store.secret": super::SecretHandle,
        },
        imports: { default: trappable },
    });
}

use bindings::wasmcloud::secrets::{reveal, store};
use wasmtime::component::{HasSelf, Linker, Resource};

/// What a `secret` resource stands for: the name of one of the component's secrets.
#[allow(unreachable_pub)] // named by the generated bindings
pub struct SecretHandle {
    name: String,
}

/// Adds both interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<crate::store::Ctx>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasSelf<crate::store::Ctx>>(linker, |ctx| ctx)?;
    reveal::add_to_linker::<_, HasSelf<crate::store::Ctx>>(linker, |ctx| ctx)
}

impl store::Host for crate::store::Ctx {
    fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, store::SecretsError>> {
        if !self.secrets.contains_key(&key) {
            return Ok(Err(store::SecretsError::NotFound));
        }
        Ok(Ok(self.table.push(SecretHandle { name: key })?))
    }
}

impl store::HostSecret for crate::store::Ctx {
    fn drop(&mut self, secret: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(secret)?;
        Ok(())
    }
}

impl reveal::Host for crate::store::Ctx {
    fn reveal(&mut self, secret: Resource<SecretHandle>) -> wasmtime::Result<store::SecretValue> {
        let name = &self.table.get(&secret)?.name;
        let value = self
            .secrets
            .get(name)
            .ok_or_else(|| wasmtime::format_err!("secret `{name}` is gone"))?;
        Ok(match value.as_string() {
            Some(text) => store::SecretValue::String(text.to_owned()),
            None => store::SecretValue::Bytes(value.as_bytes().to_vec()),
        })
    }
}

//! Who is calling and what they may do: password hashing, access tokens, API
//! keys, the `Credentials` extractor and the one function every handler uses
//! to reach the database as an authorized caller ([`authorize`]).

use std::future::{ready, Ready};
use std::sync::OnceLock;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::schema::{api_keys, settings, users};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub mod api;
pub mod hashing;
pub mod throttle;

crate::text_enum! {
    /// What a caller may do: `viewer` reads; `agent` also creates and changes
    /// CRM records; `manager` also deletes; `admin` also manages users and keys.
    Role {
        Admin => "admin",
        Manager => "manager",
        Agent => "agent",
        Viewer => "viewer",
    }
}

/// The kind of access a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
    Delete,
    Admin,
}

impl Role {
    pub fn allows(self, need: Need) -> bool {
        let rank = |r: Role| match r {
            Role::Viewer => 0,
            Role::Agent => 1,
            Role::Manager => 2,
            Role::Admin => 3,
        };
        let needed = match need {
            Need::Read => 0,
            Need::Write => 1,
            Need::Delete => 2,
            Need::Admin => 3,
        };
        rank(self) >= needed
    }
}

crate::text_enum! {
    /// Whether a change was made by a signed-in user or through an API key.
    ActorType {
        User => "user",
        ApiKey => "api_key",
        /// The service itself (what it sets up on its first start).
        System => "system",
    }
}

/// The authenticated caller, as confirmed against the database.
#[derive(Debug, Clone)]
pub struct Actor {
    pub actor_type: ActorType,
    pub id: String,
    pub role: Role,
}

impl Actor {
    /// The service itself, for changes no caller made.
    pub fn system() -> Self {
        Actor {
            actor_type: ActorType::System,
            id: "system".into(),
            role: Role::Admin,
        }
    }
}

/// Signing keys and lifetime of access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_secs: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

/// Tokens are refused once expired, allowing this much clock skew.
const TOKEN_LEEWAY_SECS: u64 = 2;
pub const API_KEY_PREFIX: &str = "crm_";

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = TOKEN_LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// A token for the user. `iat` has whole seconds, and a revocation
    /// (`tokens_valid_after`, set by a password change) refuses every token
    /// whose `iat` is its second or earlier, including tokens issued earlier
    /// within that same second. A token issued after the revocation but
    /// within its second therefore carries the next second as `iat`.
    pub fn issue(
        &self,
        user_id: &str,
        role: Role,
        tokens_valid_after: Option<chrono::NaiveDateTime>,
    ) -> ApiResult<String> {
        let now = chrono::Utc::now().timestamp();
        let iat = tokens_valid_after.map_or(now, |t| now.max(t.and_utc().timestamp() + 1));
        let claims = Claims {
            sub: user_id.to_string(),
            role,
            iat,
            exp: iat + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("token signing failed: {e}")))
    }

    fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// The JWT secret: from `CRM_JWT_SECRET`, or generated once and kept in the
/// database so that restarts and replicas share it.
pub fn load_or_create_secret(conn: &mut DbConn) -> ApiResult<Vec<u8>> {
    const NAME: &str = "jwt_secret";
    let candidate = random_hex(32);
    // Two replicas starting together both try; the loser's insert fails on the
    // primary key and both then read the winner's value.
    let _ = diesel::insert_into(settings::table)
        .values((settings::name.eq(NAME), settings::value.eq(&candidate)))
        .execute(conn);
    let secret: String = settings::table
        .find(NAME)
        .select(settings::value)
        .first(conn)?;
    hex::decode(secret)
        .map_err(|e| ApiError::internal(format!("stored jwt secret is corrupt: {e}")))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn argon2() -> Argon2<'static> {
    Argon2::default() // argon2id, v19, m=19 MiB, t=2, p=1 (OWASP minimum)
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash. For an unknown user pass `None`:
/// a dummy hash is verified instead so both cases take the same time.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    ok && real
}

/// API keys are long random secrets, so a fast hash is enough to store them.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_hex(24))
}

/// What the `Authorization` header claims, before the database confirms it.
#[derive(Debug, Clone)]
pub enum Credentials {
    Token { user_id: String, issued_at: i64 },
    ApiKey(String),
}

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(credentials_of(req))
    }
}

pub(crate) fn credentials_of(req: &HttpRequest) -> ApiResult<Credentials> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer header",
        ))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    // The scheme name is case-insensitive (RFC 9110).
    let token = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| value.get(7..))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>",
        ))?;
    if token.starts_with(API_KEY_PREFIX) {
        return Ok(Credentials::ApiKey(token.to_string()));
    }
    let keys = &req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?
        .tokens;
    let claims = keys
        .verify(token)
        .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
    Ok(Credentials::Token {
        user_id: claims.sub,
        issued_at: claims.iat,
    })
}

/// Confirms credentials against the database: the user must still exist and
/// be active (its current role applies, not the one in the token); the key
/// must exist and not be expired.
fn resolve(conn: &mut DbConn, credentials: &Credentials) -> ApiResult<Actor> {
    match credentials {
        Credentials::Token { user_id, issued_at } => {
            let (role, active, valid_after): (String, bool, Option<chrono::NaiveDateTime>) =
                users::table
                    .find(user_id)
                    .select((users::role, users::active, users::tokens_valid_after))
                    .first(conn)
                    .optional()?
                    .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
            let revoked = valid_after.is_some_and(|t| *issued_at <= t.and_utc().timestamp());
            if !active || revoked {
                return Err(ApiError::Unauthorized("invalid or expired token"));
            }
            Ok(Actor {
                actor_type: ActorType::User,
                id: user_id.clone(),
                role: Role::from_db(&role)?,
            })
        }
        Credentials::ApiKey(key) => {
            let (id, role, expires_at): (String, String, Option<chrono::NaiveDateTime>) =
                api_keys::table
                    .filter(api_keys::key_hash.eq(hash_api_key(key)))
                    .select((api_keys::id, api_keys::role, api_keys::expires_at))
                    .first(conn)
                    .optional()?
                    .ok_or(ApiError::Unauthorized("invalid or revoked API key"))?;
            if expires_at.is_some_and(|t| t <= db::now()) {
                return Err(ApiError::Unauthorized("API key expired"));
            }
            Ok(Actor {
                actor_type: ActorType::ApiKey,
                id,
                role: Role::from_db(&role)?,
            })
        }
    }
}

/// The caller's credentials as a condition a query can select: "this caller
/// is still valid". Reading one record selects it beside the record, so the
/// check and the read share one round trip (see [`authorize_read`]). It is the
/// same rule as [`resolve`], written as SQL.
pub struct CallerCheck {
    user_id: String,
    /// The start of the second the token was issued in (`iat`).
    issued_at: chrono::NaiveDateTime,
    key_hash: String,
    now: chrono::NaiveDateTime,
}

impl CallerCheck {
    fn of(credentials: &Credentials) -> Self {
        let now = db::now();
        match credentials {
            Credentials::Token { user_id, issued_at } => CallerCheck {
                user_id: user_id.clone(),
                // Our tokens always have an `iat` chrono can represent; if
                // not, the epoch passes only users never revoked, the same
                // answer `resolve` gives for such an `iat`.
                issued_at: chrono::DateTime::from_timestamp(*issued_at, 0)
                    .map(|t| t.naive_utc())
                    .unwrap_or_default(),
                // No key hashes to the empty string.
                key_hash: String::new(),
                now,
            },
            Credentials::ApiKey(key) => CallerCheck {
                // No user has an empty id.
                user_id: String::new(),
                // Unused; within the range both databases store.
                issued_at: now,
                key_hash: hash_api_key(key),
                now,
            },
        }
    }

    /// True when the caller is an active user whose tokens were not revoked
    /// after this one was issued, or an API key that exists and has not expired.
    #[diesel::dsl::auto_type(no_type_alias)]
    pub fn is_valid(&self) -> _ {
        let user_id: String = self.user_id.clone();
        let issued_at: chrono::NaiveDateTime = self.issued_at;
        let key_hash: String = self.key_hash.clone();
        let now: chrono::NaiveDateTime = self.now;
        diesel::dsl::exists(
            users::table
                .filter(users::id.eq(user_id))
                .filter(users::active)
                .filter(
                    users::tokens_valid_after
                        .is_null()
                        .or(users::tokens_valid_after.lt(issued_at)),
                ),
        )
        .or(diesel::dsl::exists(
            api_keys::table
                .filter(api_keys::key_hash.eq(key_hash))
                .filter(
                    api_keys::expires_at
                        .is_null()
                        .or(api_keys::expires_at.gt(now)),
                ),
        ))
    }
}

/// [`authorize`] for reading one record, which every role may do. `load`
/// selects [`CallerCheck::is_valid`] beside the record and answers
/// `Some((record, valid))`, or `None` when there is no such record. A valid
/// caller thus costs no query of its own; only a missing record or a failed
/// check runs the full check, which answers 401 for an invalid caller.
pub async fn authorize_read<T, F>(
    state: &AppState,
    credentials: Credentials,
    load: F,
) -> ApiResult<Option<T>>
where
    F: FnOnce(&mut DbConn, &CallerCheck) -> ApiResult<Option<(T, bool)>> + Send + 'static,
    T: Send + 'static,
{
    db::run(&state.pool, move |conn| {
        match load(conn, &CallerCheck::of(&credentials))? {
            Some((record, true)) => Ok(Some(record)),
            found => {
                let actor = resolve(conn, &credentials)?;
                if !actor.role.allows(Need::Read) {
                    return Err(ApiError::Forbidden("your role does not allow this action"));
                }
                Ok(found.map(|(record, _)| record))
            }
        }
    })
    .await
}

/// Runs `work` on a pooled connection, off the async threads, once the caller
/// is confirmed and its role allows `need`. Every authenticated route goes
/// through here or [`authorize_read`], so no handler can reach the database
/// unauthorized.
pub async fn authorize<T, F>(
    state: &AppState,
    credentials: Credentials,
    need: Need,
    work: F,
) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn, &Actor) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    db::run(&state.pool, move |conn| {
        let actor = resolve(conn, &credentials)?;
        if !actor.role.allows(need) {
            return Err(ApiError::Forbidden("your role does not allow this action"));
        }
        work(conn, &actor)
    })
    .await
}

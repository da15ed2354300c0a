//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd` in one message.

use super::{utf8, Credentials, SaslError, Step};
use crate::proto::secret::Secret;

/// Checks one PLAIN message against the credentials.
pub(super) fn verify(message: &[u8], creds: &dyn Credentials) -> Step {
    match parse(message) {
        Err(err) => Step::Failure(err),
        Ok(login) => {
            let password = login.password.expose();
            if password.is_empty() || !creds.verify_password(&login.user, password) {
                Step::Failure(SaslError::InvalidCredentials)
            } else {
                Step::Success { user: login.user }
            }
        }
    }
}

/// A parsed PLAIN message (the authorization id already checked).
struct PlainLogin {
    user: String,
    password: Secret,
}

fn parse(message: &[u8]) -> Result<PlainLogin, SaslError> {
    let mut fields = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN needs exactly three NUL-separated fields",
        ));
    };
    if authcid.is_empty() {
        return Err(SaslError::Malformed("PLAIN user name is empty"));
    }
    let user = utf8(authcid, "PLAIN user name is not UTF-8")?;
    let authzid = utf8(authzid, "PLAIN authorization id is not UTF-8")?;
    let password = Secret::from(utf8(password, "PLAIN password is not UTF-8")?);
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::AuthzidNotPermitted);
    }
    Ok(PlainLogin { user, password })
}

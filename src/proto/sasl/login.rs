//! LOGIN (draft-murchison-sasl-login): the server prompts `Username:` then `Password:`.

use super::{utf8, Credentials, SaslError, Step};
use crate::proto::secret::Secret;

/// `Username:` in base64.
pub(super) const USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
/// `Password:` in base64.
pub(super) const PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// A LOGIN exchange: waiting for the user name, or holding it while waiting for the password.
pub(super) struct Login {
    user: Option<String>,
}

impl Login {
    /// Starts the exchange; an initial response, if any, is the user name.
    pub(super) fn start(initial: Option<Vec<u8>>) -> (Self, Step) {
        let mut login = Login { user: None };
        let step = match initial {
            None => Step::Challenge(USERNAME_PROMPT.to_owned()),
            Some(user) => login.take_user(&user),
        };
        (login, step)
    }

    /// Takes the next decoded client response.
    pub(super) fn step(&mut self, data: Vec<u8>, creds: &dyn Credentials) -> Step {
        match self.user.take() {
            None => self.take_user(&data),
            Some(user) => {
                let password = match utf8(&data, "LOGIN password is not UTF-8") {
                    Ok(password) => Secret::from(password),
                    Err(err) => return Step::Failure(err),
                };
                if !password.is_empty() && creds.verify_password(&user, password.expose()) {
                    Step::Success { user }
                } else {
                    Step::Failure(SaslError::InvalidCredentials)
                }
            }
        }
    }

    fn take_user(&mut self, data: &[u8]) -> Step {
        match utf8(data, "LOGIN user name is not UTF-8") {
            Err(err) => Step::Failure(err),
            Ok(user) if user.is_empty() => {
                Step::Failure(SaslError::Malformed("LOGIN user name is empty"))
            }
            Ok(user) => {
                self.user = Some(user);
                Step::Challenge(PASSWORD_PROMPT.to_owned())
            }
        }
    }
}

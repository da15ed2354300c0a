//! An in-memory backend for the session tests.

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use super::maildrop::{Backend, DropMessage, Maildrop, MaildropError, OpenError};
use crate::store::maildir::name::crlf_size;

/// Stored messages shared between the test and the backend: `(bytes, uidl)`; `None` once
/// deleted by "another process".
pub type Store = Arc<Mutex<Vec<Option<(Vec<u8>, String)>>>>;

pub struct MemoryBackend {
    pub users: Vec<(String, String)>,
    pub store: Store,
    pub in_use: bool,
}

pub struct MemoryDrop {
    store: Store,
    messages: Vec<DropMessage>,
    slots: Vec<usize>,
}

impl Backend for MemoryBackend {
    type Drop = MemoryDrop;

    fn credentials(&self) -> &dyn crate::proto::sasl::Credentials {
        self
    }

    fn open_maildrop(&mut self, _user: &str) -> Result<MemoryDrop, OpenError> {
        if self.in_use {
            return Err(OpenError::InUse);
        }
        let guard = self
            .store
            .lock()
            .map_err(|_| OpenError::Temporary("poisoned".into()))?;
        let mut messages = Vec::new();
        let mut slots = Vec::new();
        for (slot, m) in guard.iter().enumerate() {
            if let Some((bytes, uidl)) = m {
                messages.push(DropMessage {
                    size: crlf_size(bytes, false),
                    uidl: uidl.clone(),
                });
                slots.push(slot);
            }
        }
        Ok(MemoryDrop {
            store: self.store.clone(),
            messages,
            slots,
        })
    }
}

/// Each user's password doubles as its shared secret (APOP, CRAM-MD5).
impl crate::proto::sasl::Credentials for MemoryBackend {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        self.users.iter().any(|(u, p)| u == user && p == password)
    }

    fn shared_secret(&self, user: &str) -> Option<String> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
    }

    fn scram_sha256(&self, _user: &str) -> Option<crate::proto::sasl::ScramSecret> {
        None
    }

    fn quota(&self, _user: &str) -> Option<u64> {
        None
    }
}

impl Maildrop for MemoryDrop {
    fn messages(&self) -> &[DropMessage] {
        &self.messages
    }

    fn open(&mut self, index: usize) -> Result<Box<dyn Read + Send>, MaildropError> {
        let guard = self
            .store
            .lock()
            .map_err(|_| MaildropError::Io("poisoned".into()))?;
        match guard.get(self.slots[index]) {
            Some(Some((bytes, _))) => Ok(Box::new(Cursor::new(bytes.clone()))),
            _ => Err(MaildropError::Gone),
        }
    }

    fn delete(&mut self, indices: &[usize]) -> Result<usize, MaildropError> {
        let mut guard = self
            .store
            .lock()
            .map_err(|_| MaildropError::Io("poisoned".into()))?;
        for i in indices {
            guard[self.slots[*i]] = None;
        }
        Ok(indices.len())
    }
}

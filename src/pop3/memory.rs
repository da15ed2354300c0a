//! An in-memory backend for the session tests.

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use super::maildrop::{Backend, DropMessage, Maildrop, MaildropError, OpenError};
use crate::maildir::name::crlf_size;

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

    fn verify(&mut self, user: &str, password: &str) -> bool {
        self.users.iter().any(|(u, p)| u == user && p == password)
    }

    fn apop(&mut self, user: &str, banner: &str, digest: &str) -> bool {
        self.users.iter().any(|(u, p)| {
            let d = Md5::digest(format!("{banner}{p}").as_bytes());
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            u == user && hex == digest
        })
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

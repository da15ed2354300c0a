use super::*;

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: "a@example.test".into(),
        recipients: rcpts.iter().map(|r| Recipient::new(*r)).collect(),
        received: now(),
        origin: Origin::Smtp,
        client: Some("127.0.0.1".into()),
        helo: Some("client.test".into()),
        trusted: false,
        auth_user: None,
        size: 11,
        smtputf8: false,
        dsn_ret: None,
        dsn_envid: None,
        quarantine: None,
        requiretls: false,
    }
}

#[test]
fn store_list_read_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let env = envelope(&["b@example.test"]);
    let id = spool.store(&env, &[b"Hello", b" world"]).expect("store");
    assert_eq!(spool.list(Area::Queue).expect("list"), vec![id.clone()]);
    assert!(fs::read_dir(dir.path().join("tmp"))
        .expect("tmp")
        .next()
        .is_none());
    let m = spool.peek(Area::Queue, &id).expect("peek");
    assert_eq!(m.envelope, env);
    assert_eq!(m.read_body().expect("body"), b"Hello world");
    assert_eq!(m.state.recipients.len(), 1);
    let locked = spool
        .try_lock(Area::Queue, &id)
        .expect("lock")
        .expect("free");
    // A second lock attempt fails while the first is held.
    assert!(spool.try_lock(Area::Queue, &id).expect("lock").is_none());
    assert_eq!(locked.read_body().expect("body"), b"Hello world");
    locked.remove(&spool).expect("remove");
    assert!(spool.list(Area::Queue).expect("list").is_empty());
    assert!(spool.try_lock(Area::Queue, &id).expect("lock").is_none());
}

#[test]
fn state_hold_release_and_recovery_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let id = spool
        .store(&envelope(&["x@example.test", "y@example.test"]), &[b"body"])
        .expect("store");
    {
        let mut m = spool
            .try_lock(Area::Queue, &id)
            .expect("lock")
            .expect("free");
        assert!(!m.recovering);
        m.mark_busy().expect("busy");
        // Crash: the lock goes away with the process, the busy mark stays.
        m.msg.state.attempts = 1;
        drop(m);
    }
    let mut m = spool
        .try_lock(Area::Queue, &id)
        .expect("lock")
        .expect("free");
    assert!(m.recovering);
    m.msg.state.attempts = 2;
    m.msg.state.recipients[0].status = RecipientStatus::Delivered;
    m.save_state().expect("save");
    m.move_to(Area::Hold).expect("hold");
    drop(m);
    assert_eq!(spool.find(&id), Some(Area::Hold));
    let peek = spool.peek(Area::Hold, &id).expect("peek");
    assert_eq!(peek.state.attempts, 2);
    assert_eq!(peek.state.recipients[0].status, RecipientStatus::Delivered);
    assert!(!peek.is_finished());
    let m = spool
        .try_lock(Area::Hold, &id)
        .expect("lock")
        .expect("free");
    assert!(!m.recovering);
    m.remove(&spool).expect("remove");
    assert_eq!(spool.clean().expect("clean"), 0);
    assert!(fs::read_dir(dir.path().join("state"))
        .expect("state")
        .next()
        .is_none());
}

#[test]
fn damaged_files_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let id = QueueId::generate();
    for content in [&b""[..], b"garbage", b"POSTERN1 {not json}\nbody"] {
        fs::write(spool.path(Area::Queue, &id), content).expect("write");
        assert!(matches!(
            spool.peek(Area::Queue, &id),
            Err(SpoolError::Damaged { .. })
        ));
    }
}

#[test]
fn an_empty_queue_file_is_dropped_by_the_deliverer_that_locks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let id = QueueId::generate();
    let garbage = QueueId::generate();
    fs::write(spool.path(Area::Queue, &id), b"").expect("write");
    fs::write(spool.path(Area::Queue, &garbage), b"garbage").expect("write");
    assert!(spool.try_lock(Area::Queue, &id).expect("lock").is_none());
    assert!(
        !spool.path(Area::Queue, &id).exists(),
        "the empty name is gone"
    );
    // Damaged bytes are kept for a human to look at.
    assert!(matches!(
        spool.try_lock(Area::Queue, &garbage),
        Err(SpoolError::Damaged { .. })
    ));
    assert!(spool.path(Area::Queue, &garbage).exists());
}

#[test]
fn concurrent_lockers_get_each_message_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = std::sync::Arc::new(Spool::open(dir.path()).expect("open"));
    for _ in 0..200 {
        spool
            .store(&envelope(&["b@example.test"]), &[b"m"])
            .expect("store");
    }
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let spool = spool.clone();
            let taken = taken.clone();
            std::thread::spawn(move || {
                for id in spool.list(Area::Queue).expect("list") {
                    if let Some(m) = spool.try_lock(Area::Queue, &id).expect("lock") {
                        m.remove(&spool).expect("remove");
                        taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    assert_eq!(taken.load(std::sync::atomic::Ordering::SeqCst), 200);
}

#[test]
fn finished_queue_files_are_recycled_not_deleted() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let first = spool
        .store(&envelope(&["b@example.test"]), &[b"first message"])
        .expect("store");
    let inode = fs::metadata(spool.path(Area::Queue, &first))
        .expect("meta")
        .ino();
    // A reader that opened the file before it was finished sees the message gone, not bytes.
    let early = spool.peek(Area::Queue, &first).expect("peek");
    let m = spool
        .try_lock(Area::Queue, &first)
        .expect("lock")
        .expect("free");
    m.mark_busy().expect("busy");
    m.remove(&spool).expect("remove");
    assert!(matches!(early.read_body(), Err(SpoolError::NotFound(_))));
    let free: Vec<_> = fs::read_dir(dir.path().join("free"))
        .expect("free")
        .flatten()
        .map(|e| e.metadata().expect("meta"))
        .collect();
    assert_eq!(free.len(), 1);
    assert_eq!(
        (free[0].len(), free[0].mode() & 0o777),
        (0, 0o600),
        "emptied, not busy"
    );
    assert!(fs::read_dir(dir.path().join("tmp"))
        .expect("tmp")
        .next()
        .is_none());

    // The next message takes the same inode, with only its own bytes and no busy mark.
    let second = spool
        .store(&envelope(&["c@example.test"]), &[b"second"])
        .expect("store");
    let path = spool.path(Area::Queue, &second);
    assert_eq!(fs::metadata(&path).expect("meta").ino(), inode);
    assert!(fs::read_dir(dir.path().join("free"))
        .expect("free")
        .next()
        .is_none());
    let m = spool
        .try_lock(Area::Queue, &second)
        .expect("lock")
        .expect("free");
    assert!(!m.recovering);
    assert_eq!(m.read_body().expect("body"), b"second");
    assert_eq!(m.msg.envelope.recipients[0].address, "c@example.test");
}

#[test]
fn clean_keeps_a_bounded_number_of_free_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    for i in 0..5000 {
        fs::write(dir.path().join("free").join(format!("f{i}")), b"").expect("write");
    }
    assert_eq!(spool.clean().expect("clean"), 5000 - 4096);
}

/// State and queue files as version 0.1 wrote them (`tests/data/spool-0.1`): the one-line
/// reasons come back as typed outcomes, and are written out again with both.
#[test]
fn files_of_version_0_1_are_read_with_typed_outcomes() {
    use crate::proto::mail::{Class, RemoteMta};
    let state: DeliveryState = serde_json::from_str(include_str!(
        "../../../tests/data/spool-0.1/state/1K1QS6E8DJ300Z8A00.json"
    ))
    .expect("0.1 state");
    let r = &state.recipients[0];
    assert_eq!(r.status, RecipientStatus::Pending);
    let o = r.outcome.as_ref().expect("outcome");
    assert_eq!(
        (o.class(), o.status.to_string()),
        (Class::Transient, "4.3.0".into())
    );
    assert_eq!(
        o.remote_mta,
        Some(RemoteMta::new(
            "mx.remote.test",
            "127.0.0.1:2526".parse().expect("addr")
        ))
    );
    assert_eq!(
        o.diagnostic_code().as_deref(),
        Some("smtp; 450 4.3.0 Error: command failed")
    );
    assert_eq!(
        state.last_error().as_deref(),
        Some("4.3.0 450 4.3.0 Error: command failed (at mx.remote.test[127.0.0.1]:2526)")
    );

    let queue = include_bytes!("../../../tests/data/spool-0.1/queue/1K1QS6E6S4Q00Z8500");
    let line = queue
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| l.strip_prefix(MAGIC))
        .expect("envelope line");
    let env: Envelope = serde_json::from_slice(line).expect("0.1 envelope");
    let small = &env.recipients[1];
    assert_eq!(small.status, RecipientStatus::Failed);
    let o = small.outcome.as_ref().expect("refused at intake");
    assert_eq!(o.status.to_string(), "5.2.3");
    assert_eq!(o.remote_mta, None);
    assert_eq!(
        o.diagnostic_code().as_deref(),
        Some("smtp; 552 5.2.3 <small@here.test>: Message size exceeds this recipient's limit of 2048 bytes")
    );
    assert!(env.recipients[0].outcome.is_none());

    // Written again: the outcome as it is, and the one line beside it; read back the same.
    let json = serde_json::to_value(&state).expect("json");
    assert_eq!(json["last_error"], json["recipients"][0]["last_error"]);
    assert_eq!(json["recipients"][0]["outcome"]["status"], "4.3.0");
    assert_eq!(
        json["recipients"][0]["outcome"]["remote_mta"]["host"],
        "mx.remote.test"
    );
    let back: DeliveryState = serde_json::from_value(json).expect("back");
    assert_eq!(back, state);
}

/// A delivered recipient keeps its outcome (the next hop's 250) but shows no error.
#[test]
fn successes_are_no_errors() {
    let mut r = Recipient::new("b@x.test");
    r.status = RecipientStatus::Delivered;
    r.outcome = Some(crate::proto::mail::Outcome::replied(
        crate::proto::mail::Reply::received(250, "2.0.0 Ok: queued as X"),
        "accepted at end of DATA",
    ));
    assert_eq!(r.last_error(), None);
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("last_error").is_none(), "{json}");
    assert_eq!(json["outcome"]["reply"]["code"], 250);
    let state = DeliveryState {
        recipients: vec![r],
        ..DeliveryState::default()
    };
    assert_eq!(state.last_error(), None);
}

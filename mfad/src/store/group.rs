//! Group commit: the verifications of concurrent logins share one transaction, so one
//! fsync makes several of them durable.
//!
//! With `synchronous=FULL`, every commit waits for the disk, under the store's one
//! connection: logins were served one disk write at a time (measured: half the throughput
//! of the same daemon without the fsync). Here a caller queues its unit of work and either
//! becomes the *leader*, which takes every queued unit, runs each inside its own SAVEPOINT
//! of one `BEGIN IMMEDIATE` transaction and commits once, or waits for a leader to do so.
//!
//! What each unit sees and guarantees is unchanged: it runs alone on the connection, its
//! writes are undone if it fails (its savepoint is rolled back, the others' are kept), and
//! its result is handed back only after the COMMIT returned: an accepted code is on disk
//! before the login proceeds. If the COMMIT fails, every unit of the batch gets the error
//! (and the login is refused as unavailable): nothing is reported that is not durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::{Savepoint, TransactionBehavior};

use super::Store;
use crate::error::StoreError;

/// Hands a unit's result to its caller once the batch's fate is known: `None` when the
/// batch committed, else why it did not.
type Publish = Box<dyn FnOnce(Option<&str>) + Send>;

/// Runs a unit's work on the leader's connection, inside its savepoint.
type Run = Box<dyn for<'c> FnOnce(&Store, Savepoint<'c>) -> Publish + Send>;

/// One queued unit of work.
struct Unit {
    /// Runs the work.
    run: Run,
    /// Fails the unit without running it (the batch could not start).
    fail: Box<dyn FnOnce(String) + Send>,
}

#[derive(Default)]
struct Queue {
    units: Vec<Unit>,
    /// A leader is running a batch.
    leading: bool,
}

/// The queue and the leader's signal.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
    batch_done: Condvar,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Units run outside this lock (a panic in one is caught); the queue stays usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends a leader's turn even if the batch panics: the next waiting caller leads.
struct Turn<'a>(&'a GroupCommit);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.lock().leading = false;
        self.0.batch_done.notify_all();
    }
}

type Slot<R> = Arc<Mutex<Option<Result<R, StoreError>>>>;

fn put<R>(slot: &Slot<R>, value: Result<R, StoreError>) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
}

/// Wraps `work` as a queued unit and the slot its result will be put in.
fn unit<R: Send + 'static>(
    work: impl for<'c> FnOnce(&Store, Savepoint<'c>) -> Result<R, StoreError> + Send + 'static,
) -> (Unit, Slot<R>) {
    let slot: Slot<R> = Arc::new(Mutex::new(None));
    let (ran, failed) = (Arc::clone(&slot), Arc::clone(&slot));
    let unit = Unit {
        run: Box::new(move |store, savepoint| {
            let result =
                catch_unwind(AssertUnwindSafe(|| work(store, savepoint))).unwrap_or_else(|_| {
                    Err(StoreError::BadRow(
                        "a verification panicked; nothing of it was kept".into(),
                    ))
                });
            Box::new(move |commit_error: Option<&str>| {
                put(
                    &ran,
                    match commit_error {
                        None => result,
                        Some(e) => Err(StoreError::Unsafe(format!(
                            "the transaction could not be committed: {e}"
                        ))),
                    },
                )
            })
        }),
        fail: Box::new(move |why| {
            put(
                &failed,
                Err(StoreError::Unsafe(format!(
                    "the transaction could not start: {why}"
                ))),
            )
        }),
    };
    (unit, slot)
}

impl Store {
    /// Runs `work` in a transaction shared with concurrent callers, and returns its result
    /// once that transaction committed. `work` must finish its savepoint (`commit`, i.e.
    /// RELEASE) to keep its writes; dropping it rolls them back.
    pub(super) fn batched<R: Send + 'static>(
        &self,
        work: impl for<'c> FnOnce(&Store, Savepoint<'c>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (unit, slot) = unit(work);
        let group = &self.group;
        let mut queue = group.lock();
        queue.units.push(unit);
        loop {
            if let Some(result) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return result;
            }
            if queue.leading {
                queue = group
                    .batch_done
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue.leading = true;
            let units = std::mem::take(&mut queue.units);
            drop(queue);
            let turn = Turn(group);
            self.run_batch(units);
            drop(turn);
            queue = group.lock();
        }
    }

    /// The leader's part: one transaction, a savepoint per unit, one commit.
    fn run_batch(&self, units: Vec<Unit>) {
        let mut conn = self.lock();
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let why = e.to_string();
                units.into_iter().for_each(|u| (u.fail)(why.clone()));
                return;
            }
        };
        let mut published = Vec::with_capacity(units.len());
        let mut broken = None;
        for unit in units {
            // SQLite may end the whole transaction itself on some errors (SQLITE_FULL,
            // IOERR, NOMEM): a savepoint taken then would open a transaction of its own and
            // commit on RELEASE. So once the batch's transaction is gone, nothing more runs
            // and the whole batch fails.
            if broken.is_none() && tx.is_autocommit() {
                broken = Some("the transaction was rolled back by SQLite".to_owned());
            }
            if let Some(why) = &broken {
                (unit.fail)(why.clone());
                continue;
            }
            match tx.savepoint() {
                Ok(savepoint) => published.push((unit.run)(self, savepoint)),
                Err(e) => (unit.fail)(e.to_string()),
            }
        }
        if broken.is_none() && tx.is_autocommit() {
            broken = Some("the transaction was rolled back by SQLite".to_owned());
        }
        let commit_error = match broken {
            Some(why) => {
                drop(tx);
                Some(why)
            }
            None => tx.commit().err().map(|e| e.to_string()),
        };
        drop(conn);
        for publish in published {
            publish(commit_error.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    fn count(store: &Store) -> i64 {
        store
            .lock()
            .query_row("SELECT COUNT(*) FROM settings", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn each_unit_keeps_or_loses_its_own_writes_and_results_come_after_the_commit() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    store.batched(move |_, sp| {
                        sp.execute(
                            "INSERT INTO settings (key, value) VALUES (?1, 'x')",
                            [format!("k{i}")],
                        )?;
                        if i % 4 == 0 {
                            // Dropped without RELEASE: rolled back, the others stay.
                            return Err(StoreError::BadRow(format!("unit {i} failed")));
                        }
                        sp.commit()?;
                        Ok(i)
                    })
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i),
                Err(e) => assert!(i % 4 == 0 && e.to_string().contains("failed"), "{i}: {e}"),
            }
        }
        assert_eq!(count(&store), 12);
        // Nothing is left open: a plain write works.
        store
            .lock()
            .execute(
                "INSERT INTO settings (key, value) VALUES ('after', 'y')",
                [],
            )
            .unwrap();
    }

    #[test]
    fn a_panicking_unit_is_an_error_and_the_queue_goes_on() {
        let store = Store::open_in_memory().unwrap();
        let r: Result<(), _> = store.batched(|_, _| panic!("boom"));
        assert!(r.unwrap_err().to_string().contains("panicked"));
        let ok = store.batched(|_, sp| {
            sp.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')", [])?;
            sp.commit()?;
            Ok(7)
        });
        assert_eq!(ok.unwrap(), 7);
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn once_sqlite_ends_the_transaction_no_later_unit_commits_on_its_own() {
        let store = Store::open_in_memory().unwrap();
        let write = |key: &'static str| {
            unit(move |_, sp: Savepoint<'_>| {
                sp.execute("INSERT INTO settings (key, value) VALUES (?1, 'x')", [key])?;
                sp.commit()?;
                Ok(())
            })
        };
        let (first, first_slot) = write("first");
        // Stands for SQLITE_FULL/IOERR, after which SQLite has rolled back by itself.
        let (abort, abort_slot) = unit(|_, sp: Savepoint<'_>| {
            sp.execute_batch("ROLLBACK")?;
            Ok(())
        });
        let (last, last_slot) = write("last");
        store.run_batch(vec![first, abort, last]);
        for slot in [&first_slot, &abort_slot, &last_slot] {
            let result = slot.lock().unwrap().take().expect("every unit is answered");
            assert!(result.is_err(), "{result:?}");
        }
        assert_eq!(count(&store), 0, "a unit committed on its own");
    }

    #[test]
    fn a_failed_commit_fails_every_unit_of_the_batch() {
        let store = Store::open_in_memory().unwrap();
        // A deferred foreign key violation only shows at COMMIT.
        store
            .lock()
            .execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .unwrap();
        let r = store.batched(|_, sp| {
            sp.execute("INSERT INTO child (p) VALUES (42)", [])?;
            sp.commit()?;
            Ok(())
        });
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("could not be committed")
        );
        let n: i64 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM child", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}

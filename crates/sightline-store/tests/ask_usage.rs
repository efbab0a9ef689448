//! Ask's monthly token budget under questions asked at once: each model
//! call reserves its tokens atomically before it runs, so concurrent
//! questions can never together reserve more than the month's cap.

use sightline_store::assistant::{reserve, settle, tokens_this_month};
use sightline_store::{Store, MIGRATOR};
use sqlx::PgPool;

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_reservations_never_pass_the_months_cap(pool: PgPool) {
    let store = Store { pool };
    let ws = store
        .create_workspace("acme", "acme-external")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = store.clone();
        let id = ws.id;
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin_workspace_tx(id).await.unwrap();
            let got = reserve(&mut tx, 400, 1_000).await.unwrap();
            tx.commit().await.unwrap();
            got
        }));
    }
    let mut granted = Vec::new();
    for t in tasks {
        granted.push(t.await.unwrap());
    }
    let total: u64 = granted.iter().flatten().sum();
    assert_eq!(total, 1_000, "granted {granted:?}");
    // 400 + 400 + 200, and nothing for the rest.
    let mut sizes: Vec<u64> = granted.iter().flatten().copied().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [200, 400, 400], "{granted:?}");
    assert_eq!(granted.iter().filter(|g| g.is_none()).count(), 9);
    // A call that used less gives the rest back; the month reads the truth.
    let mut tx = store.begin_workspace_tx(ws.id).await.unwrap();
    settle(&mut tx, 400, 150).await.unwrap();
    assert_eq!(tokens_this_month(&mut tx).await.unwrap(), 750);
    assert_eq!(reserve(&mut tx, 400, 1_000).await.unwrap(), Some(250));
    assert_eq!(reserve(&mut tx, 1, 1_000).await.unwrap(), None);
    tx.commit().await.unwrap();
}

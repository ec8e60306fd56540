//! Cluster mode: several real daemons on one real PostgreSQL server.

use crate::support::postgres::Postgres;

#[test]
fn the_test_server_answers_and_is_gone_afterwards() {
    let pg = Postgres::start();
    assert_eq!(pg.column("SELECT 1 + 1"), vec!["2".to_string()]);
    let dir = pg.server_dir();
    let url = pg.url.clone();
    drop(pg);
    if let Some(dir) = dir {
        assert!(!dir.exists(), "the data dir was left behind");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let gone = rt.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls));
        assert!(gone.is_err(), "the server still answers after the drop");
    }
}

//! Every function calls `init_logging` first: without it no log line is written at all (the
//! `tracing` events the adapters and lambda_runtime emit go nowhere), and Lambda's log
//! group would hold only the platform records. Its own process: the subscriber is global.

use lambda_runtime::tracing::dispatcher;

#[test]
fn init_logging_installs_the_subscriber_every_log_line_goes_through() {
    assert!(!dispatcher::has_been_set(), "nothing installed before");
    payments_aws::lambda::init_logging();
    assert!(dispatcher::has_been_set());
}

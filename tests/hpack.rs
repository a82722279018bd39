//! HPACK table poisoning (CVE-2024-7246), which a3grpc's engine patches: a request with a
//! header the server must reject, then good requests on the same connection that refer, by
//! HPACK index, to valid headers the first one added to the table. Only the first may fail.
//! (Against the unpatched core the later ones fail too: engine/README.md says how to build
//! without a patch.)

mod common;

use common::*;

#[test]
fn a_rejected_header_does_not_poison_the_connection() {
    let server = start(conf(vec![greeter(|req, _| Ok(reply(format!("Hello {}!", req.name))))]));
    let mut peer = python_script("hpack_poison.py");
    peer.args(["127.0.0.1", &server.port().to_string()]);
    let mut peer = Peer::spawn(peer);
    let first = peer.wait_for("STREAM 1 ");
    let second = peer.wait_for("STREAM 3 ");
    let third = peer.wait_for("STREAM 5 ");
    println!("{first}\n{second}\n{third}");
    assert!(!first.ends_with("grpc-status=0"), "the request with an upper-case header name is rejected: {first}");
    assert!(second.ends_with("grpc-status=0"), "a good request after it is answered: {second}");
    assert!(third.ends_with("grpc-status=0"), "and the next one: {third}");
    // The connection's table is sound for everybody else too.
    assert_eq!(say_hello(&client(&server), "after").unwrap(), "Hello after!");
}

//! Proofs of the audit log's Merkle tree (src/audit/merkle.rs): the server plans proofs
//! for sizes and indices a client chooses, and verifiers check proofs a server sends.
//!
//! - Hostile numbers and proofs: `inclusion_proof_plan` / `consistency_proof_plan` on any
//!   u64s and `verify_inclusion` / `verify_consistency` on any proof never panic, and plans
//!   stay within the proof length bounds.
//! - A real tree of up to 300 leaves, grown with `append` as the server grows it: the
//!   plan-based proofs equal the RFC 9162 in-memory ones, they verify, and any changed bit
//!   of a proof, leaf or root makes them fail.
//! - `locate_mismatch` (the verifier's search for a changed event) names the first leaf
//!   that differs.
#![no_main]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use sunbid::audit::merkle::{
    Hash, MAX_CONSISTENCY_PROOF_LEN, MAX_INCLUSION_PROOF_LEN, NodeId, append, assemble_proof,
    consistency_proof, consistency_proof_plan, frontier, inclusion_proof, inclusion_proof_plan,
    leaf_hash, root, root_from_frontier, verify_consistency, verify_inclusion,
};
use sunbid::audit::verify::locate_mismatch;

/// Reads the input front to back; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_be_bytes(b)
    }
    fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        for x in &mut h {
            *x = self.u8();
        }
        h
    }
}

fn flip(h: &mut Hash, bit: u8) {
    h[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
}

/// Runs a future that never waits (the lookups below answer at once).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the lookups never wait"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);

    // Hostile numbers and proofs.
    let (a, b) = (input.u64(), input.u64());
    if let Ok(plan) = inclusion_proof_plan(a, b) {
        assert!(plan.len() <= MAX_INCLUSION_PROOF_LEN);
        assert!(plan.iter().all(|e| !e.is_empty()));
    }
    if let Ok(plan) = consistency_proof_plan(a, b) {
        assert!(plan.len() <= MAX_CONSISTENCY_PROOF_LEN);
        assert!(plan.iter().all(|e| !e.is_empty()));
    }
    let (leaf, top) = (input.hash(), input.hash());
    let count = usize::from(input.u8() % 80);
    let proof: Vec<Hash> = (0..count).map(|_| input.hash()).collect();
    let _ = verify_inclusion(&leaf, a, b, &proof, &top);
    let _ = verify_consistency(a, b, &leaf, &top, &proof);

    // A real tree, grown leaf by leaf as the server stores it.
    let n = usize::from(input.u16() % 300) + 1;
    let leaves: Vec<Hash> = (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut nodes: HashMap<NodeId, Hash> = HashMap::new();
    for (size, l) in leaves.iter().enumerate() {
        let size = size as u64;
        let hashes: Vec<Hash> = frontier(size).iter().map(|id| nodes[id]).collect();
        for (id, h) in append(size, &hashes, *l).expect("append") {
            nodes.insert(id, h);
        }
    }
    let frontier_hashes: Vec<Hash> = frontier(n as u64).iter().map(|id| nodes[id]).collect();
    let tree_root = root(&leaves);
    assert_eq!(root_from_frontier(&frontier_hashes), tree_root);
    let lookup = |id: NodeId| nodes.get(&id).copied();

    let index = u64::from(input.u16()) % n as u64;
    let planned = assemble_proof(
        &inclusion_proof_plan(index, n as u64).expect("plan"),
        lookup,
    )
    .expect("every planned node is stored");
    let mut proof = inclusion_proof(&leaves, index).expect("in memory");
    assert_eq!(planned, proof);
    let l = leaves[index as usize];
    assert!(verify_inclusion(&l, index, n as u64, &proof, &tree_root));
    let bit = input.u8();
    let mut bad_root = tree_root;
    flip(&mut bad_root, bit);
    assert!(!verify_inclusion(&l, index, n as u64, &proof, &bad_root));
    let mut bad_leaf = l;
    flip(&mut bad_leaf, bit);
    assert!(!verify_inclusion(
        &bad_leaf, index, n as u64, &proof, &tree_root
    ));
    if !proof.is_empty() {
        let at = usize::from(input.u8()) % proof.len();
        flip(&mut proof[at], bit);
        assert!(!verify_inclusion(&l, index, n as u64, &proof, &tree_root));
    }

    let old = u64::from(input.u16()) % n as u64 + 1;
    let old_root = root(&leaves[..old as usize]);
    let planned = assemble_proof(
        &consistency_proof_plan(old, n as u64).expect("plan"),
        lookup,
    )
    .expect("every planned node is stored");
    let mut proof = consistency_proof(&leaves, old, n as u64).expect("in memory");
    assert_eq!(planned, proof);
    assert!(verify_consistency(
        old, n as u64, &old_root, &tree_root, &proof
    ));
    assert!(!verify_consistency(
        old, n as u64, &old_root, &bad_root, &proof
    ));
    if old < n as u64 {
        let mut bad_old = old_root;
        flip(&mut bad_old, bit);
        assert!(!verify_consistency(
            old, n as u64, &bad_old, &tree_root, &proof
        ));
        let at = usize::from(input.u8()) % proof.len();
        flip(&mut proof[at], bit);
        assert!(!verify_consistency(
            old, n as u64, &old_root, &tree_root, &proof
        ));
    }

    // The verifier's search for the first changed event, against this server's tree.
    let changed = usize::from(input.u16()) % n;
    let mut ours = leaves.clone();
    flip(&mut ours[changed], bit);
    let found = ready(locate_mismatch(&ours, |level, index| {
        let span = 1usize << level;
        let start = index as usize * span;
        let h = root(&leaves[start..start + span]);
        async move { Ok::<_, sunbid::audit::verify::VerifyError>(h) }
    }))
    .expect("lookups succeed");
    assert_eq!(found, Some(changed as u64));
});

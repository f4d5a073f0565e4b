//! The audit log's Merkle tree: RFC 9162 §2.1 hashing, tree shape, proofs and their
//! verification, plus the arithmetic that lets the server keep only *perfect* subtrees.
//!
//! Pure functions, no I/O. The server stores a node only once it is perfect (it covers
//! exactly 2^level leaves, so its hash never changes again) and addresses it by
//! `(level, index)`: node `(l, i)` covers leaves `[i·2^l, (i+1)·2^l)`, and level 0 holds
//! the leaf hashes. Every RFC hash the protocol needs (a root, a proof element) is the
//! right-to-left fold of a few such nodes, so this module turns "which hash" into "which
//! stored nodes" ([`frontier`], [`inclusion_proof_plan`], [`consistency_proof_plan`]) and
//! the database layer only has to look them up ([`assemble_proof`]).
//!
//! Everything here is panic-free on hostile input: sizes and indices come from clients.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ring::digest;

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// The address of a stored perfect subtree: `(level, index)`, covering leaves
/// `[index·2^level, (index+1)·2^level)`.
pub type NodeId = (u8, u64);

/// A proof expressed in stored nodes: one list of [`NodeId`]s per proof element, each
/// folded with [`root_from_frontier`] to give that element.
pub type ProofPlan = Vec<Vec<NodeId>>;

/// The root of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The longest inclusion proof any tree with a `u64` size can have: one element per level.
pub const MAX_INCLUSION_PROOF_LEN: usize = 64;

/// The longest consistency proof any pair of `u64` sizes can have: one element per level
/// plus the old tree's own subtree root when it is not a power of two (RFC 9162 §2.1.4.1).
pub const MAX_CONSISTENCY_PROOF_LEN: usize = 65;

/// Why a tree operation was refused; all of these are caller or storage errors, never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size it was requested in.
        size: u64,
    },
    /// A consistency proof was asked for between sizes that have none.
    #[error("no consistency proof from size {old_size} to size {new_size}")]
    BadSizes {
        /// The older (smaller) tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
    },
    /// The caller's frontier does not have one hash per set bit of the tree size.
    #[error("frontier has {got} hashes, a tree of this size needs {expected}")]
    FrontierLength {
        /// Number of hashes the tree size requires.
        expected: usize,
        /// Number of hashes supplied.
        got: usize,
    },
    /// The tree already holds `u64::MAX` leaves; its size could not be represented.
    #[error("tree is full")]
    TreeFull,
    /// Storage has no hash for a node that a complete tree must contain.
    #[error("node (level {level}, index {index}) is missing from storage")]
    MissingNode {
        /// Level of the missing node.
        level: u8,
        /// Index of the missing node within its level.
        index: u64,
    },
    /// A proof plan element listed no nodes (never produced by this module's planners).
    #[error("proof plan element is empty")]
    EmptyPlanElement,
    /// The in-memory helpers were given fewer leaves than the requested tree size.
    #[error("tree size {size} needs more leaves than the {have} supplied")]
    NotEnoughLeaves {
        /// Requested tree size.
        size: u64,
        /// Number of leaves supplied.
        have: usize,
    },
}

/// The leaf hash of an entry, SHA-256(0x00 ‖ entry) (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    // The 0x00/0x01 domain separation stops a leaf being passed off as a node (second
    // preimage attack on the tree).
    ctx.update(&[0x00]);
    ctx.update(entry);
    finish(ctx)
}

/// The hash of an interior node, SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

fn finish(ctx: digest::Context) -> Hash {
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    // SHA-256 always yields 32 bytes; zip instead of copy_from_slice keeps this panic-free
    // by construction.
    for (o, b) in out.iter_mut().zip(digest.as_ref()) {
        *o = *b;
    }
    out
}

/// The largest power of two strictly below `n` (RFC 9162 §2.1.1's `k`); `n` must be ≥ 2.
fn split_point(n: u64) -> u64 {
    // For n ≥ 2, n - 1 ≥ 1 has at most 63 leading zeros, so the shift is in 0..=63.
    1u64 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// Same as [`split_point`] for slice lengths.
fn split_point_usize(n: usize) -> usize {
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash MTH(D[n]) of a list of leaf hashes (RFC 9162 §2.1.1).
///
/// Recursive by the RFC's definition rather than by frontier folding, so the tests can
/// use it as an independent reference for the storage-oriented functions.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [one] => *one,
        _ => match leaves.split_at_checked(split_point_usize(leaves.len())) {
            Some((left, right)) => node_hash(&root(left), &root(right)),
            // Unreachable: the split point is always below the length.
            None => EMPTY_ROOT,
        },
    }
}

/// The perfect subtrees, left to right, that tile `len` leaves starting at leaf `start`.
///
/// Callers only pass ranges that occur in RFC 9162 trees, where `start` is a multiple of
/// the largest power of two in `len`, so every node produced is properly aligned.
fn range_nodes(start: u64, len: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(len.count_ones() as usize);
    let mut at = start;
    for level in (0..u64::BITS as u8).rev() {
        let width = 1u64 << level;
        if len & width != 0 {
            out.push((level, at >> level));
            // Cannot overflow: `at + width` never exceeds `start + len`, a tree size.
            at = at.wrapping_add(width);
        }
    }
    out
}

/// The perfect subtrees, left to right, that make up a tree of `size` leaves: one per set
/// bit of `size`, largest first (the "compact range" of the whole tree).
pub fn frontier(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// Folds perfect-subtree hashes right to left into the RFC 9162 root of their
/// concatenation: `h0 ⊕ (h1 ⊕ (… ⊕ hn))`; [`EMPTY_ROOT`] for none.
///
/// This is exactly MTH for a frontier, because MTH splits at the largest power of two,
/// which is the first (largest) perfect subtree.
pub fn root_from_frontier(hashes: &[Hash]) -> Hash {
    let mut rev = hashes.iter().rev();
    match rev.next() {
        None => EMPTY_ROOT,
        Some(last) => rev.fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// Appends leaf `size` to a tree whose frontier hashes are `frontier_hashes` (in the
/// order of [`frontier`]`(size)`), returning every node that becomes perfect: the leaf
/// itself at `(0, size)` and each parent it completes, lowest level first.
///
/// The frontier of the new tree, `frontier(size + 1)`, consists of the old frontier nodes
/// above the last returned level followed by the last returned node, so storing the
/// returned nodes is all an append needs.
pub fn append(
    size: u64,
    frontier_hashes: &[Hash],
    leaf: Hash,
) -> Result<Vec<(NodeId, Hash)>, MerkleError> {
    let expected = size.count_ones() as usize;
    if frontier_hashes.len() != expected {
        return Err(MerkleError::FrontierLength {
            expected,
            got: frontier_hashes.len(),
        });
    }
    if size == u64::MAX {
        return Err(MerkleError::TreeFull);
    }
    // The trailing one bits of `size` are the perfect subtrees at levels 0, 1, … that sit
    // immediately left of the new leaf; each one merges with it into the next level up,
    // like a carry in binary addition.
    let merges = size.trailing_ones();
    let mut out = Vec::with_capacity(merges as usize + 1);
    out.push(((0, size), leaf));
    let mut current = leaf;
    for (level, left) in (1..=merges).zip(frontier_hashes.iter().rev()) {
        current = node_hash(left, &current);
        // `merges` ≤ 63 because size ≠ u64::MAX, so the level fits and the shift is valid.
        out.push(((level as u8, size >> level), current));
    }
    Ok(out)
}

/// The stored nodes behind each element of the inclusion proof for leaf `index` in a tree
/// of `size` leaves, in proof order (RFC 9162 §2.1.3.1, bottom element first).
pub fn inclusion_proof_plan(index: u64, size: u64) -> Result<ProofPlan, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo..lo+n]) unrolled top-down; the RFC lists elements bottom-up, hence the
    // reverse at the end. All sums stay within `size`, so nothing overflows.
    let mut plan = Vec::new();
    let (mut lo, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split_point(n);
        if m < k {
            plan.push(range_nodes(lo + k, n - k));
            n = k;
        } else {
            plan.push(range_nodes(lo, k));
            lo += k;
            m -= k;
            n -= k;
        }
    }
    plan.reverse();
    Ok(plan)
}

/// The stored nodes behind each element of the consistency proof from `old_size` to
/// `new_size` (RFC 9162 §2.1.4.1); empty when the sizes are equal.
///
/// `old_size` 0 is refused: every tree is trivially consistent with the empty one, and
/// [`verify_consistency`] refuses it too, so there is no proof to serve.
pub fn consistency_proof_plan(old_size: u64, new_size: u64) -> Result<ProofPlan, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::BadSizes { old_size, new_size });
    }
    // SUBPROOF(m, D[lo..lo+n], b) unrolled top-down; `whole` is the RFC's flag b, true
    // while D[lo..lo+m] is still the old tree itself (whose root the verifier has).
    let mut plan = Vec::new();
    let (mut lo, mut n, mut m, mut whole) = (0u64, new_size, old_size, true);
    while m < n {
        let k = split_point(n);
        if m <= k {
            plan.push(range_nodes(lo + k, n - k));
            n = k;
        } else {
            plan.push(range_nodes(lo, k));
            lo += k;
            m -= k;
            n -= k;
            whole = false;
        }
    }
    if !whole {
        plan.push(range_nodes(lo, m));
    }
    plan.reverse();
    Ok(plan)
}

/// Turns a proof plan into proof hashes by looking up each stored node and folding each
/// element's nodes with [`root_from_frontier`].
pub fn assemble_proof(
    plan: &[Vec<NodeId>],
    mut lookup: impl FnMut(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MerkleError> {
    let mut proof = Vec::with_capacity(plan.len());
    for element in plan {
        if element.is_empty() {
            return Err(MerkleError::EmptyPlanElement);
        }
        let mut hashes = Vec::with_capacity(element.len());
        for &(level, index) in element {
            let hash = lookup((level, index)).ok_or(MerkleError::MissingNode { level, index })?;
            hashes.push(hash);
        }
        proof.push(root_from_frontier(&hashes));
    }
    Ok(proof)
}

/// The inclusion proof for leaf `index` among `leaves`, computed in memory by the
/// RFC 9162 §2.1.3.1 recursion (a reference for the plan-based path, and for exports).
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    let m = usize::try_from(index)
        .ok()
        .filter(|m| *m < leaves.len())
        .ok_or(MerkleError::IndexOutOfRange { index, size })?;
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

/// PATH(m, D[n]) of RFC 9162 §2.1.3.1; `m < d.len()`.
fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split_point_usize(d.len());
    let Some((left, right)) = d.split_at_checked(k) else {
        return;
    };
    if m < k {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// The consistency proof from the first `old_size` to the first `new_size` of `leaves`,
/// computed in memory by the RFC 9162 §2.1.4.1 recursion.
pub fn consistency_proof(
    leaves: &[Hash],
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::BadSizes { old_size, new_size });
    }
    let have = leaves.len();
    let tree = usize::try_from(new_size)
        .ok()
        .and_then(|n| leaves.get(..n))
        .ok_or(MerkleError::NotEnoughLeaves {
            size: new_size,
            have,
        })?;
    // old_size ≤ new_size, which fits in usize, so this conversion cannot fail.
    let m = usize::try_from(old_size).map_err(|_| MerkleError::NotEnoughLeaves {
        size: new_size,
        have,
    })?;
    let mut out = Vec::new();
    subproof(m, tree, true, &mut out);
    Ok(out)
}

/// SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1; `1 ≤ m ≤ d.len()`.
fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    if m == d.len() {
        if !whole {
            out.push(root(d));
        }
        return;
    }
    let k = split_point_usize(d.len());
    let Some((left, right)) = d.split_at_checked(k) else {
        return;
    };
    if m <= k {
        subproof(m, left, whole, out);
        out.push(root(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

/// Checks that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves whose root
/// is `root`, by the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    // Bound the work before hashing anything: no valid proof is longer than this.
    if index >= size || proof.len() > MAX_INCLUSION_PROOF_LEN {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            // More proof elements than levels: reject rather than ignore the extra ones.
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                // fnode is the last node of its level and has no right sibling: skip the
                // levels where it is carried up unchanged.
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, by the algorithm of RFC 9162 §2.1.4.2.
///
/// `old_size` 0 is always refused (a verifier never needs a proof from the empty tree and
/// accepting one would accept anything); equal sizes pass only with an empty proof and
/// equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // Step 1 (an empty proof fails) plus a bound on the work before hashing anything.
    if proof.is_empty() || proof.len() > MAX_CONSISTENCY_PROOF_LEN {
        return false;
    }
    let mut rest = proof.iter();
    // Step 2: when the old tree is a perfect subtree, its root is the proof's implicit
    // first element; otherwise the proof carries that subtree's hash first.
    let seed = if old_size.is_power_of_two() {
        *old_root
    } else {
        match rest.next() {
            Some(first) => *first,
            None => return false,
        }
    };
    // Steps 3 and 4.
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (seed, seed);
    // Step 6.
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    fr == *old_root && sr == *new_root && snode == 0
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The leaf inputs of the RFC 6962 test vectors (transparency-dev/merkle
    /// testonly/constants.go, LeafInputs).
    fn kat_entries() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
    }

    fn kat_leaves() -> Vec<Hash> {
        kat_entries().iter().map(|e| leaf_hash(e)).collect()
    }

    fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    /// RootHashes from transparency-dev/merkle testonly/constants.go, by tree size 0..=8
    /// (the same values as the C++ certificate-transparency merkle_tree_test.cc).
    const KAT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// NodeHashes from the same file: the perfect subtrees of the 8-leaf tree by
    /// (level, index), exactly what the server stores.
    const KAT_NODES: [(u8, u64, &str); 15] = [
        (
            0,
            0,
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        ),
        (
            0,
            1,
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        ),
        (
            0,
            2,
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        ),
        (
            0,
            3,
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        ),
        (
            0,
            4,
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
        (
            0,
            5,
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        ),
        (
            0,
            6,
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        ),
        (
            0,
            7,
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ),
        (
            1,
            0,
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ),
        (
            1,
            1,
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        ),
        (
            1,
            2,
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ),
        (
            1,
            3,
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ),
        (
            2,
            0,
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
        (
            2,
            1,
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
        (
            3,
            0,
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ),
    ];

    /// A store of perfect nodes filled only through [`append`], as the server does.
    #[derive(Default)]
    struct Store {
        nodes: HashMap<NodeId, Hash>,
        size: u64,
    }

    impl Store {
        fn push(&mut self, leaf: Hash) {
            let frontier_hashes: Vec<Hash> = frontier(self.size)
                .into_iter()
                .map(|id| self.nodes[&id])
                .collect();
            for (id, hash) in append(self.size, &frontier_hashes, leaf).unwrap() {
                assert!(
                    self.nodes.insert(id, hash).is_none(),
                    "node {id:?} rewritten"
                );
            }
            self.size += 1;
        }

        fn root(&self, size: u64) -> Hash {
            let hashes: Vec<Hash> = frontier(size).iter().map(|id| self.nodes[id]).collect();
            root_from_frontier(&hashes)
        }

        fn assemble(&self, plan: &[Vec<NodeId>]) -> Vec<Hash> {
            assemble_proof(plan, |id| self.nodes.get(&id).copied()).unwrap()
        }
    }

    fn synthetic_leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let d = digest::digest(&digest::SHA256, b"");
        assert_eq!(&EMPTY_ROOT[..], d.as_ref());
        assert_eq!(root(&[]), EMPTY_ROOT);
        assert_eq!(root_from_frontier(&[]), EMPTY_ROOT);
    }

    #[test]
    fn known_roots_for_sizes_0_to_8() {
        let leaves = kat_leaves();
        let mut store = Store::default();
        for (size, want) in KAT_ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..size]), h(want), "root of size {size}");
            assert_eq!(store.root(size as u64), h(want), "frontier root {size}");
            if let Some(leaf) = leaves.get(size) {
                store.push(*leaf);
            }
        }
    }

    #[test]
    fn stored_nodes_match_known_node_hashes() {
        let mut store = Store::default();
        for leaf in kat_leaves() {
            store.push(leaf);
        }
        assert_eq!(store.nodes.len(), KAT_NODES.len());
        for (level, index, want) in KAT_NODES {
            assert_eq!(
                store.nodes[&(level, index)],
                h(want),
                "node ({level}, {index})"
            );
        }
    }

    #[test]
    fn known_inclusion_proofs() {
        // transparency-dev/merkle proof/verify_test.go inclusionProofs (leaf indices
        // there are 1-based).
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let leaves = kat_leaves();
        let mut store = Store::default();
        for leaf in &leaves {
            store.push(*leaf);
        }
        for (index, size, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            let tree = &leaves[..size as usize];
            assert_eq!(inclusion_proof(tree, index).unwrap(), want);
            let plan = inclusion_proof_plan(index, size).unwrap();
            assert_eq!(store.assemble(&plan), want);
            let root = h(KAT_ROOTS[size as usize]);
            assert!(verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &want,
                &root
            ));
        }
        assert_eq!(
            inclusion_proof(&leaves[..1], 0).unwrap(),
            Vec::<Hash>::new()
        );
    }

    #[test]
    fn known_consistency_proofs() {
        // transparency-dev/merkle proof/verify_test.go consistencyProofs.
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        let leaves = kat_leaves();
        let mut store = Store::default();
        for leaf in &leaves {
            store.push(*leaf);
        }
        for (old, new, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            assert_eq!(consistency_proof(&leaves, old, new).unwrap(), want);
            let plan = consistency_proof_plan(old, new).unwrap();
            assert_eq!(store.assemble(&plan), want);
            let (r1, r2) = (h(KAT_ROOTS[old as usize]), h(KAT_ROOTS[new as usize]));
            assert!(verify_consistency(old, new, &r1, &r2, &want));
            assert!(!verify_consistency(old, new, &r2, &r1, &want));
        }
    }

    #[test]
    fn frontier_is_the_binary_decomposition() {
        assert_eq!(frontier(0), vec![]);
        assert_eq!(frontier(1), vec![(0, 0)]);
        assert_eq!(frontier(6), vec![(2, 0), (1, 2)]);
        assert_eq!(frontier(7), vec![(2, 0), (1, 2), (0, 6)]);
        assert_eq!(frontier(8), vec![(3, 0)]);
        let max = frontier(u64::MAX);
        assert_eq!(max.len(), 64);
        assert_eq!(max.first(), Some(&(63, 0)));
        assert_eq!(max.last(), Some(&(0, u64::MAX - 1)));
    }

    #[test]
    fn append_rejects_bad_input() {
        let leaf = leaf_hash(b"x");
        assert_eq!(
            append(3, &[leaf], leaf),
            Err(MerkleError::FrontierLength {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            append(0, &[leaf], leaf),
            Err(MerkleError::FrontierLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            append(u64::MAX, &[leaf; 64], leaf),
            Err(MerkleError::TreeFull)
        );
        // The largest legal append completes 63 parents and does not overflow.
        let nodes = append(u64::MAX - 1, &[leaf; 63], leaf).unwrap();
        assert_eq!(nodes.len(), 1);
        let nodes = append((1 << 63) - 1, &[leaf; 63], leaf).unwrap();
        assert_eq!(nodes.len(), 64);
        assert_eq!(nodes.last().unwrap().0, (63, 0));
    }

    #[test]
    fn planners_and_in_memory_refuse_bad_ranges() {
        assert!(inclusion_proof_plan(0, 0).is_err());
        assert!(inclusion_proof_plan(5, 5).is_err());
        assert!(consistency_proof_plan(0, 5).is_err());
        assert!(consistency_proof_plan(6, 5).is_err());
        assert_eq!(consistency_proof_plan(5, 5).unwrap(), ProofPlan::new());
        let leaves = synthetic_leaves(4);
        assert!(inclusion_proof(&leaves, 4).is_err());
        assert!(inclusion_proof(&leaves, u64::MAX).is_err());
        assert!(consistency_proof(&leaves, 0, 4).is_err());
        assert!(consistency_proof(&leaves, 3, 5).is_err());
        assert!(consistency_proof(&leaves, 3, u64::MAX).is_err());
        assert_eq!(
            assemble_proof(&[vec![(0, 0)]], |_| None),
            Err(MerkleError::MissingNode { level: 0, index: 0 })
        );
        assert_eq!(
            assemble_proof(&[vec![]], |_| Some(EMPTY_ROOT)),
            Err(MerkleError::EmptyPlanElement)
        );
    }

    #[test]
    fn planners_handle_the_largest_sizes() {
        let plan = inclusion_proof_plan(u64::MAX - 1, u64::MAX).unwrap();
        assert!(plan.len() <= MAX_INCLUSION_PROOF_LEN);
        let plan = inclusion_proof_plan(0, u64::MAX).unwrap();
        assert_eq!(plan.len(), MAX_INCLUSION_PROOF_LEN);
        let plan = consistency_proof_plan(u64::MAX - 2, u64::MAX).unwrap();
        assert!(plan.len() <= MAX_CONSISTENCY_PROOF_LEN);
        let plan = consistency_proof_plan(3, u64::MAX).unwrap();
        assert!(plan.len() <= MAX_CONSISTENCY_PROOF_LEN);
    }

    #[test]
    fn consistency_edge_cases() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        // Old size 0 is refused even with an empty proof and any roots.
        assert!(!verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]));
        assert!(!verify_consistency(0, 1, &EMPTY_ROOT, &a, &[]));
        // Equal sizes: empty proof and equal roots only.
        assert!(verify_consistency(1, 1, &a, &a, &[]));
        assert!(!verify_consistency(1, 1, &a, &b, &[]));
        assert!(!verify_consistency(1, 1, &a, &a, &[a]));
        // Time travel and empty proofs fail.
        assert!(!verify_consistency(2, 1, &a, &b, &[]));
        assert!(!verify_consistency(1, 2, &a, &node_hash(&a, &b), &[]));
        assert!(verify_consistency(1, 2, &a, &node_hash(&a, &b), &[b]));
        // A proof that runs out before reaching the top of the claimed new tree (step 7's
        // `sn == 0`): the proof 2→3 with the size-3 root must not pass as 2→5.
        let leaves = synthetic_leaves(3);
        let (r2, r3) = (root(&leaves[..2]), root(&leaves));
        let proof = consistency_proof(&leaves, 2, 3).unwrap();
        assert!(verify_consistency(2, 3, &r2, &r3, &proof));
        assert!(!verify_consistency(2, 5, &r2, &r3, &proof));
        // Over-long proofs are refused before any hashing.
        let long = vec![a; MAX_CONSISTENCY_PROOF_LEN + 1];
        assert!(!verify_consistency(1, u64::MAX, &a, &b, &long));
    }

    #[test]
    fn inclusion_edge_cases() {
        let a = leaf_hash(b"a");
        assert!(verify_inclusion(&a, 0, 1, &[], &a));
        assert!(!verify_inclusion(&a, 0, 0, &[], &a));
        assert!(!verify_inclusion(&a, 1, 1, &[], &a));
        assert!(!verify_inclusion(&a, 0, 1, &[a], &a));
        let long = vec![a; MAX_INCLUSION_PROOF_LEN + 1];
        assert!(!verify_inclusion(&a, 0, u64::MAX, &long, &a));
    }

    /// Every way of damaging a valid inclusion proof must fail.
    fn assert_inclusion_tamper_fails(
        leaf: &Hash,
        index: u64,
        size: u64,
        proof: &[Hash],
        root: &Hash,
    ) {
        assert!(verify_inclusion(leaf, index, size, proof, root));
        let mut bad_leaf = *leaf;
        bad_leaf[31] ^= 1;
        assert!(!verify_inclusion(&bad_leaf, index, size, proof, root));
        let mut bad_root = *root;
        bad_root[0] ^= 0x80;
        assert!(!verify_inclusion(leaf, index, size, proof, &bad_root));
        for i in 0..proof.len() {
            for bit in [0usize, 255] {
                let mut bad = proof.to_vec();
                bad[i][bit / 8] ^= 1 << (bit % 8);
                assert!(!verify_inclusion(leaf, index, size, &bad, root));
            }
        }
        if let Some((_, shorter)) = proof.split_last() {
            assert!(!verify_inclusion(leaf, index, size, shorter, root));
        }
        let mut longer = proof.to_vec();
        longer.push(*root);
        assert!(!verify_inclusion(leaf, index, size, &longer, root));
        // A proof binds the index (RFC 9162 inclusion proofs need not bind the size: the
        // same path can be valid in a slightly larger tree with the same root).
        if index + 1 < size {
            assert!(!verify_inclusion(leaf, index + 1, size, proof, root));
        }
        if index > 0 {
            assert!(!verify_inclusion(leaf, index - 1, size, proof, root));
        }
    }

    /// Every way of damaging a valid consistency proof must fail.
    fn assert_consistency_tamper_fails(old: u64, new: u64, r1: &Hash, r2: &Hash, proof: &[Hash]) {
        assert!(verify_consistency(old, new, r1, r2, proof));
        if old == new {
            return;
        }
        assert!(!verify_consistency(old, new, r2, r1, proof) || r1 == r2);
        for i in 0..proof.len() {
            let mut bad = proof.to_vec();
            bad[i][7] ^= 0x10;
            assert!(!verify_consistency(old, new, r1, r2, &bad));
        }
        if let Some((_, shorter)) = proof.split_last() {
            assert!(!verify_consistency(old, new, r1, r2, shorter));
        }
        let mut longer = proof.to_vec();
        longer.push(*r2);
        assert!(!verify_consistency(old, new, r1, r2, &longer));
        let mut bad_r1 = *r1;
        bad_r1[5] ^= 4;
        assert!(!verify_consistency(old, new, &bad_r1, r2, proof));
    }

    /// Exhaustive cross-check for every small tree: store-based proofs equal the RFC
    /// recursion, and all of them verify.
    #[test]
    fn all_proofs_for_trees_up_to_40_leaves() {
        let leaves = synthetic_leaves(40);
        let mut store = Store::default();
        for (n, leaf) in leaves.iter().enumerate() {
            store.push(*leaf);
            let size = n as u64 + 1;
            let tree = &leaves[..=n];
            let root_n = root(tree);
            assert_eq!(store.root(size), root_n);
            for index in 0..size {
                let proof = inclusion_proof(tree, index).unwrap();
                let plan = inclusion_proof_plan(index, size).unwrap();
                assert_eq!(store.assemble(&plan), proof);
                assert_inclusion_tamper_fails(&tree[index as usize], index, size, &proof, &root_n);
            }
            for old in 1..=size {
                let proof = consistency_proof(tree, old, size).unwrap();
                let plan = consistency_proof_plan(old, size).unwrap();
                assert_eq!(store.assemble(&plan), proof);
                let old_root = root(&tree[..old as usize]);
                assert_consistency_tamper_fails(old, size, &old_root, &root_n, &proof);
            }
        }
    }

    proptest! {
        #[test]
        fn incremental_tree_matches_rfc(size in 0usize..=300, seed in any::<u64>()) {
            let leaves: Vec<Hash> = (0..size as u64)
                .map(|i| leaf_hash(&(i ^ seed).to_le_bytes()))
                .collect();
            let mut store = Store::default();
            for leaf in &leaves {
                store.push(*leaf);
            }
            prop_assert_eq!(store.root(size as u64), root(&leaves));
            // Every intermediate root is still derivable from the stored nodes, because
            // perfect nodes are never rewritten.
            for n in (0..=size).step_by(17) {
                prop_assert_eq!(store.root(n as u64), root(&leaves[..n]));
            }
        }

        #[test]
        fn plan_proofs_match_and_verify(
            size in 1u64..=300,
            index_frac in 0.0f64..1.0,
            old_frac in 0.0f64..1.0,
        ) {
            let leaves = synthetic_leaves(size as usize);
            let mut store = Store::default();
            for leaf in &leaves {
                store.push(*leaf);
            }
            let root_n = root(&leaves);
            let index = ((size as f64 * index_frac) as u64).min(size - 1);
            let proof = inclusion_proof(&leaves, index).unwrap();
            prop_assert_eq!(
                &store.assemble(&inclusion_proof_plan(index, size).unwrap()),
                &proof
            );
            assert_inclusion_tamper_fails(&leaves[index as usize], index, size, &proof, &root_n);

            let old = ((size as f64 * old_frac) as u64).clamp(1, size);
            let proof = consistency_proof(&leaves, old, size).unwrap();
            prop_assert_eq!(
                &store.assemble(&consistency_proof_plan(old, size).unwrap()),
                &proof
            );
            let old_root = root(&leaves[..old as usize]);
            assert_consistency_tamper_fails(old, size, &old_root, &root_n, &proof);
        }

        #[test]
        fn planners_never_panic(a in any::<u64>(), b in any::<u64>()) {
            if let Ok(plan) = inclusion_proof_plan(a, b) {
                prop_assert!(plan.len() <= MAX_INCLUSION_PROOF_LEN);
                prop_assert!(plan.iter().all(|e| !e.is_empty()));
            }
            if let Ok(plan) = consistency_proof_plan(a, b) {
                prop_assert!(plan.len() <= MAX_CONSISTENCY_PROOF_LEN);
                prop_assert!(plan.iter().all(|e| !e.is_empty()));
            }
            let _ = frontier(a);
        }

        #[test]
        fn verifiers_never_panic(
            a in any::<u64>(),
            b in any::<u64>(),
            proof in proptest::collection::vec(any::<[u8; 32]>(), 0..80),
            r1 in any::<[u8; 32]>(),
            r2 in any::<[u8; 32]>(),
        ) {
            // Random proofs essentially never verify; the point is that nothing panics
            // or overflows (tests run with overflow checks on).
            let _ = verify_inclusion(&r1, a, b, &proof, &r2);
            let _ = verify_consistency(a, b, &r1, &r2, &proof);
            let _ = verify_inclusion(&r1, a % 1000, b % 1000, &proof, &r2);
            let _ = verify_consistency(a % 1000, b % 1000, &r1, &r2, &proof);
        }
    }
}

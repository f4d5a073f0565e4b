// Checks web/static/seal.js against the shared vectors (tests/vectors/seal-v1.json), which
// the Rust implementation (src/seal) generates and checks too. Run: node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import {
  collect,
  deriveKeyPair,
  envelopeLength,
  fromHex,
  importPrivateScalar,
  keySchedule,
  openEnvelope,
  parseHeader,
  sealStream,
  setupBaseS,
  toHex,
  chunkNonce,
} from "../../web/static/seal.js";

const file = JSON.parse(
  readFileSync(fileURLToPath(new URL("../vectors/seal-v1.json", import.meta.url)), "utf8"),
);
const b64 = (s) => new Uint8Array(Buffer.from(s, "base64"));
const seed = fromHex(file.opening_seed);
const [rfcA31, cfrgAes256] = file.rfc9180;

test("RFC 9180 A.3.1: DeriveKeyPair from ikmE and ikmR", async () => {
  const e = await deriveKeyPair(fromHex(rfcA31.ikmE));
  assert.equal(toHex(e.scalar), rfcA31.skEm);
  assert.equal(toHex(e.publicKey), rfcA31.pkEm);
  const r = await deriveKeyPair(fromHex(rfcA31.ikmR));
  assert.equal(toHex(r.scalar), rfcA31.skRm);
  assert.equal(toHex(r.publicKey), rfcA31.pkRm);
});

for (const v of [rfcA31, cfrgAes256]) {
  test(`${v.source}: encap, key schedule and first encryptions`, async () => {
    // The recipient's public key from its private scalar (WebCrypto computes the point).
    const { publicKey } = await importPrivateScalar(fromHex(v.skRm));
    assert.equal(toHex(publicKey), v.pkRm);
    const ctx = await setupBaseS(fromHex(v.pkRm), fromHex(v.info), {
      ikmE: fromHex(v.ikmE),
      aeadId: v.aead_id,
    });
    assert.equal(toHex(ctx.enc), v.enc);
    assert.equal(toHex(ctx.sharedSecret), v.shared_secret);
    assert.equal(toHex(ctx.key), v.key);
    assert.equal(toHex(ctx.baseNonce), v.base_nonce);
    for (const enc of v.encryptions) {
      assert.equal(toHex(await ctx.seal(fromHex(enc.aad), fromHex(enc.pt))), enc.ct);
    }
  });
}

test("the opening seed derives the published opening key", async () => {
  const { publicKey } = await deriveKeyPair(seed);
  assert.equal(toHex(publicKey), file.opening_public_key);
});

test("STREAM nonces", () => {
  assert.equal(toHex(chunkNonce(0, false)), "000000000000000000000000");
  assert.equal(toHex(chunkNonce(1, true)), "000000000000000000000101");
  assert.equal(toHex(chunkNonce(2 ** 40 + 3, false)), "000000000001000000000300");
});

for (const v of file.vectors) {
  test(`vector ${v.name}: opens, and re-seals byte for byte`, async () => {
    const envelope = b64(v.envelope_b64);
    const plaintext = b64(v.plaintext_b64);
    // (a) open
    const opened = await openEnvelope(envelope, {
      openingSeed: seed,
      tenderId: v.tender_id,
      bidderId: v.bidder_id,
    });
    assert.deepEqual(opened, plaintext);
    const h = parseHeader(envelope);
    assert.equal(h.headerLength, v.header_len);
    assert.equal(h.label, v.label);
    assert.equal(envelopeLength(plaintext.length, {
      tenderId: v.tender_id, bidderId: v.bidder_id, label: v.label,
    }), v.envelope_len);
    // (b) re-seal from a Blob, from bytes and from a ReadableStream in odd-sized pieces
    const opts = {
      openingPublicKey: file.opening_public_key,
      tenderId: v.tender_id,
      bidderId: v.bidder_id,
      label: v.label,
    };
    const material = { ikmE: fromHex(v.ikm_e), contentKey: fromHex(v.content_key) };
    const fromBlob = await collect(sealStream(new Blob([plaintext]), opts, material));
    assert.equal(fromBlob.length, envelope.length);
    assert.ok(Buffer.from(fromBlob).equals(Buffer.from(envelope)), "Blob re-seal differs");
    const fromBytes = await collect(sealStream(plaintext, opts, material));
    assert.ok(Buffer.from(fromBytes).equals(Buffer.from(envelope)), "bytes re-seal differs");
    const pieces = new ReadableStream({
      start(c) {
        for (let i = 0; i < plaintext.length; i += 10007) c.enqueue(plaintext.slice(i, i + 10007));
        c.close();
      },
    });
    const fromStream = await collect(
      sealStream(pieces, { ...opts, length: plaintext.length }, material),
    );
    assert.ok(Buffer.from(fromStream).equals(Buffer.from(envelope)), "stream re-seal differs");
  });
}

test("random sealing opens, reports progress, and differs every time", async () => {
  const data = new Uint8Array(200_000).map((_, i) => i % 253);
  const progress = [];
  const opts = {
    openingPublicKey: fromHex(file.opening_public_key),
    tenderId: "ZB-2025-0001",
    bidderId: "91350100M000100Y43",
    label: "a.bin",
    onProgress: (p) => progress.push(p.sealed),
  };
  const a = await collect(sealStream(new Blob([data]), opts));
  const b = await collect(sealStream(new Blob([data]), { ...opts, onProgress: undefined }));
  assert.notDeepEqual(a, b);
  assert.deepEqual(progress, [65536, 131072, 196608, 200000]);
  const opened = await openEnvelope(a, {
    openingSeed: seed, tenderId: opts.tenderId, bidderId: opts.bidderId,
  });
  assert.deepEqual(opened, data);
});

test("bad input is refused with the Rust error codes", async () => {
  const v = file.vectors[4];
  const env = b64(v.envelope_b64);
  const open = (bytes, t = v.tender_id, b = v.bidder_id) =>
    openEnvelope(bytes, { openingSeed: seed, tenderId: t, bidderId: b });
  const code = (c) => (e) => e.code === c;
  await assert.rejects(open(new TextEncoder().encode("%PDF-1.7")), code("SEAL_NOT_AN_ENVELOPE"));
  await assert.rejects(open(env, "ZB-2025-0002"), code("SEAL_WRONG_TENDER"));
  await assert.rejects(open(env, v.tender_id, "someone-else"), code("SEAL_WRONG_BIDDER"));
  await assert.rejects(open(env.subarray(0, env.length - 1)), code("SEAL_TRUNCATED"));
  await assert.rejects(open(env.subarray(0, 100)), code("SEAL_TRUNCATED"));
  const longer = new Uint8Array(env.length + 1);
  longer.set(env);
  await assert.rejects(open(longer), code("SEAL_TRAILING_DATA"));
  const flipped = env.slice();
  flipped[v.header_len + 70_000] ^= 1;
  await assert.rejects(open(flipped), code("SEAL_CHUNK_ALTERED"));
  const badHeader = env.slice();
  badHeader[v.header_len - 1] ^= 1; // the wrapped key's tag
  await assert.rejects(open(badHeader), code("SEAL_KEY_UNWRAP"));
  const wrongSeed = new Uint8Array(32).fill(7);
  await assert.rejects(
    openEnvelope(env, { openingSeed: wrongSeed, tenderId: v.tender_id, bidderId: v.bidder_id }),
    code("SEAL_KEY_UNWRAP"),
  );
  // Swapped chunks 0 and 1.
  const h = v.header_len;
  const full = 65536 + 16;
  const swapped = env.slice();
  swapped.set(env.subarray(h + full, h + 2 * full), h);
  swapped.set(env.subarray(h, h + full), h + full);
  await assert.rejects(open(swapped), code("SEAL_CHUNK_ALTERED"));
  // Sealing refuses a stream of the wrong length and ids the format cannot carry.
  const short = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(5)); c.close(); } });
  const opts = { openingPublicKey: file.opening_public_key, tenderId: "T", bidderId: "B" };
  await assert.rejects(collect(sealStream(short, { ...opts, length: 6 })), code("SEAL_LENGTH_MISMATCH"));
  const long = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(7)); c.close(); } });
  await assert.rejects(collect(sealStream(long, { ...opts, length: 6 })), code("SEAL_LENGTH_MISMATCH"));
  await assert.rejects(
    collect(sealStream(new Uint8Array(1), { ...opts, tenderId: "a/b" })),
    code("SEAL_INVALID_ID"),
  );
  await assert.rejects(
    collect(sealStream(new Uint8Array(1), { ...opts, openingPublicKey: new Uint8Array(65) })),
    code("SEAL_INVALID_PUBLIC_KEY"),
  );
});

test("keySchedule matches for AES-256-GCM (CFRG vector)", async () => {
  const ks = await keySchedule(fromHex(cfrgAes256.shared_secret), fromHex(cfrgAes256.info));
  assert.equal(toHex(ks.key), cfrgAes256.key);
  assert.equal(toHex(ks.baseNonce), cfrgAes256.base_nonce);
});

// Custodian keys held by a passkey: tests/vectors/custodian-prf-v1.json (src/seal/vectors.rs).
import {
  fromBase64,
  openShare,
  prfWrappingKey,
  shareDigest,
  toBase64,
  unwrapCustodianScalar,
  wrapCustodianScalar,
  generateCustodianKeyPair,
} from "../../web/static/seal.js";

const prf = JSON.parse(
  readFileSync(fileURLToPath(new URL("../vectors/custodian-prf-v1.json", import.meta.url)), "utf8"),
);

test("custodian key: HKDF wrapping key and the wrapped scalar match the Rust record byte for byte", async () => {
  const output = fromHex(prf.prf_output);
  assert.equal(toHex(await prfWrappingKey(output)), prf.wrapping_key);
  const scalar = fromHex(prf.private_scalar);
  const publicKey = fromBase64(prf.record.public_key);
  const { nonce, wrapped } = await wrapCustodianScalar(scalar, publicKey, output, fromBase64(prf.record.nonce));
  assert.equal(toBase64(nonce), prf.record.nonce);
  assert.equal(toBase64(wrapped), prf.record.ciphertext);
  assert.equal(toHex(await unwrapCustodianScalar(prf.record, output)), prf.private_scalar);
  const wrong = output.slice();
  wrong[0] ^= 1;
  await assert.rejects(unwrapCustodianScalar(prf.record, wrong), { code: "SEAL_WRONG_PASSPHRASE" });
});

test("custodian key: the sealed share opens (HPKE OpenBase) to the share whose digest was stored", async () => {
  const scalar = fromHex(prf.private_scalar);
  const share = await openShare(prf.sealed_share, scalar, prf.tender_id);
  assert.equal(toBase64(share), prf.share);
  assert.equal(toHex(await shareDigest(prf.tender_id, share)), prf.share_digest);
  await assert.rejects(openShare(prf.sealed_share, scalar, "another tender"), { code: "SEAL_WRONG_TENDER" });
  const other = await generateCustodianKeyPair();
  await assert.rejects(openShare(prf.sealed_share, other.scalar, prf.tender_id), { code: "SEAL_SHARE_UNWRAP" });
});

test("custodian key: a key pair made in the browser wraps and unwraps", async () => {
  const { scalar, publicKey } = await generateCustodianKeyPair();
  assert.equal(scalar.length, 32);
  assert.equal(publicKey.length, 65);
  const output = crypto.getRandomValues(new Uint8Array(32));
  const { nonce, wrapped } = await wrapCustodianScalar(scalar, publicKey, output);
  const record = { version: 2, kdf: "webauthn-prf", public_key: toBase64(publicKey), nonce: toBase64(nonce), ciphertext: toBase64(wrapped) };
  assert.equal(toHex(await unwrapCustodianScalar(record, output)), toHex(scalar));
});

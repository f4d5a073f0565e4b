// Sunbid seal format v1 in the browser: WebCrypto only, no dependencies.
//
// The byte layout is docs/seal-format.md; the Rust implementation is src/seal/envelope.rs and
// both must pass tests/vectors/seal-v1.json (tests/js/seal.test.mjs). In short: a random
// 256-bit content key is wrapped with HPKE (RFC 9180) base mode, DHKEM(P-256, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM, to the tender's opening public key with
// info = "sunbid/v1/" + tenderId + "/" + bidderId; the content is AES-256-GCM in 64 KiB
// chunks (STREAM: nonce = 11-byte big-endian counter ‖ last-chunk flag, AAD = SHA-256 of the
// header).
//
// WebCrypto has ECDH P-256, HMAC and AES-GCM but no HPKE, and its HKDF cannot split Extract
// from Expand as RFC 9180's LabeledExtract/LabeledExpand need, so HKDF is written here with
// HMAC-SHA-256 (RFC 5869).
//
// Main entry point: sealStream(blobOrStream, {openingPublicKey, tenderId, bidderId, ...})
// returns a ReadableStream of the envelope's bytes, pulling one 64 KiB chunk at a time, so a
// 1 GiB File is sealed in constant memory (read with blob.slice()).

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

export const MAGIC = utf8.encode("SUNBIDSEAL");
export const VERSION = 1;
export const KEM_ID = 0x0010; // DHKEM(P-256, HKDF-SHA256), RFC 9180 §7.1
export const KDF_ID = 0x0001; // HKDF-SHA256, RFC 9180 §7.2
export const AEAD_ID = 0x0002; // AES-256-GCM, RFC 9180 §7.3
export const CHUNK_SIZE = 65536;
export const TAG_LEN = 16;
const NPK = 65; // RFC 9180 §7.1: SEC1 uncompressed P-256 point
const WRAPPED_KEY_LEN = 32 + TAG_LEN;
const FIXED_LEN = 29; // magic through plaintext_len
// The P-256 group order n (RFC 9180 §7.1.3 DeriveKeyPair rejects sk = 0 or sk ≥ n).
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** An error with a stable code matching the Rust SealError codes. */
export class SealError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SealError";
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------

export function concat(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** RFC 9180 §4 I2OSP for small non-negative integers. */
function i2osp(n, len) {
  const out = new Uint8Array(len);
  let v = BigInt(n);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex) {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new TypeError("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

// ---------------------------------------------------------------------------------------
// HKDF with HMAC-SHA-256 (RFC 5869) and RFC 9180 §4 labeled variants
// ---------------------------------------------------------------------------------------

async function hmac(key, data) {
  // An empty salt means HashLen zero bytes (RFC 5869 §2.2); HMAC pads keys with zeros, so
  // the two are the same, and some browsers refuse zero-length HMAC keys.
  const k = await subtle.importKey(
    "raw",
    key.length ? key : new Uint8Array(32),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

async function hkdfExpand(prk, info, len) {
  const out = new Uint8Array(len);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < len; i++) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, Math.min(32, len - off)), off);
    off += 32;
  }
  return out;
}

const HPKE_V1 = utf8.encode("HPKE-v1");
const KEM_SUITE = concat(utf8.encode("KEM"), i2osp(KEM_ID, 2));

function hpkeSuite(aeadId) {
  return concat(utf8.encode("HPKE"), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aeadId, 2));
}

// RFC 9180 §4: LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" ‖ suite ‖ label ‖ ikm)
function labeledExtract(suite, salt, label, ikm) {
  return hmac(salt, concat(HPKE_V1, suite, utf8.encode(label), ikm));
}

// RFC 9180 §4: LabeledExpand(prk, label, info, L)
//   = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite ‖ label ‖ info, L)
function labeledExpand(suite, prk, label, info, len) {
  return hkdfExpand(prk, concat(i2osp(len, 2), HPKE_V1, suite, utf8.encode(label), info), len);
}

// ---------------------------------------------------------------------------------------
// DHKEM(P-256, HKDF-SHA256), RFC 9180 §4.1 and §7.1
// ---------------------------------------------------------------------------------------

/** RFC 9180 §7.1.3 DeriveKeyPair for P-256: returns the 32-byte private scalar. */
export async function deriveSecretScalar(ikm) {
  const dkpPrk = await labeledExtract(KEM_SUITE, new Uint8Array(0), "dkp_prk", ikm);
  for (let counter = 0; counter < 256; counter++) {
    const bytes = await labeledExpand(KEM_SUITE, dkpPrk, "candidate", Uint8Array.of(counter), 32);
    bytes[0] &= 0xff; // the P-256 bitmask
    const sk = BigInt("0x" + toHex(bytes));
    if (sk !== 0n && sk < P256_ORDER) return bytes;
  }
  throw new SealError("SEAL_DERIVE_KEY_PAIR", "DeriveKeyPair failed");
}

// PKCS#8 PrivateKeyInfo for an EC P-256 key without the optional public key; WebCrypto
// computes the public point on import.
const PKCS8_P256_PREFIX = fromHex(
  "308141020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420",
);

/** Imports a private scalar as an ECDH CryptoKey; returns {privateKey, publicKey bytes}. */
export async function importPrivateScalar(scalar) {
  const privateKey = await subtle.importKey(
    "pkcs8",
    concat(PKCS8_P256_PREFIX, scalar),
    { name: "ECDH", namedCurve: "P-256" },
    true,
    ["deriveBits"],
  );
  const jwk = await subtle.exportKey("jwk", privateKey);
  const publicKey = concat(Uint8Array.of(4), fromBase64url(jwk.x), fromBase64url(jwk.y));
  return { privateKey, publicKey };
}

/** RFC 9180 §7.1.3 DeriveKeyPair: {scalar, privateKey (CryptoKey), publicKey (65 bytes)}. */
export async function deriveKeyPair(ikm) {
  const scalar = await deriveSecretScalar(ikm);
  return { scalar, ...(await importPrivateScalar(scalar)) };
}

async function importPublicKey(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== NPK || bytes[0] !== 4) {
    throw new SealError("SEAL_INVALID_PUBLIC_KEY", "not a 65-byte uncompressed P-256 public key");
  }
  try {
    return await subtle.importKey("raw", bytes, { name: "ECDH", namedCurve: "P-256" }, false, []);
  } catch {
    throw new SealError("SEAL_INVALID_PUBLIC_KEY", "not a valid P-256 public key");
  }
}

async function randomEphemeral() {
  const pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]);
  const publicKey = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

// RFC 9180 §4.1 ExtractAndExpand(dh, kem_context)
async function extractAndExpand(dh, kemContext) {
  const eaePrk = await labeledExtract(KEM_SUITE, new Uint8Array(0), "eae_prk", dh);
  return labeledExpand(KEM_SUITE, eaePrk, "shared_secret", kemContext, 32);
}

// RFC 9180 §4.1 Encap(pkR) with a given ephemeral key pair.
async function encap(pkRBytes, ephemeral) {
  const pkR = await importPublicKey(pkRBytes);
  const dh = new Uint8Array(
    await subtle.deriveBits({ name: "ECDH", public: pkR }, ephemeral.privateKey, 256),
  );
  const enc = ephemeral.publicKey;
  return { sharedSecret: await extractAndExpand(dh, concat(enc, pkRBytes)), enc };
}

// RFC 9180 §4.1 Decap(enc, skR).
async function decap(enc, skR, pkRBytes) {
  const pkE = await importPublicKey(enc);
  const dh = new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: pkE }, skR, 256));
  return extractAndExpand(dh, concat(enc, pkRBytes));
}

/** RFC 9180 §5.1 KeySchedule in base mode: {key, baseNonce}. Nk is 32 (AES-256-GCM) or 16. */
export async function keySchedule(sharedSecret, info, aeadId = AEAD_ID) {
  const nk = aeadId === 1 ? 16 : 32;
  const suite = hpkeSuite(aeadId);
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(suite, empty, "psk_id_hash", empty);
  const infoHash = await labeledExtract(suite, empty, "info_hash", info);
  const context = concat(Uint8Array.of(0), pskIdHash, infoHash); // mode_base = 0x00
  const secret = await labeledExtract(suite, sharedSecret, "secret", empty);
  return {
    key: await labeledExpand(suite, secret, "key", context, nk),
    baseNonce: await labeledExpand(suite, secret, "base_nonce", context, 12),
  };
}

// RFC 9180 §5.2 ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn)
function computeNonce(baseNonce, seq) {
  const s = i2osp(seq, 12);
  return baseNonce.map((b, i) => b ^ s[i]);
}

async function aesGcmKey(raw, usage) {
  return subtle.importKey("raw", raw, { name: "AES-GCM" }, false, [usage]);
}

/**
 * RFC 9180 §5.1.1 SetupBaseS. `ikmE` (tests only) derives the ephemeral key with
 * DeriveKeyPair; without it the ephemeral key is random. Returns {enc, seal(aad, pt)}
 * sealing with sequence numbers 0, 1, 2, … (§5.2).
 */
export async function setupBaseS(pkR, info, { ikmE, aeadId = AEAD_ID } = {}) {
  const ephemeral = ikmE ? await deriveKeyPair(ikmE) : await randomEphemeral();
  const { sharedSecret, enc } = await encap(pkR, ephemeral);
  const { key, baseNonce } = await keySchedule(sharedSecret, info, aeadId);
  const cryptoKey = await aesGcmKey(key, "encrypt");
  let seq = 0;
  return {
    enc,
    key,
    baseNonce,
    sharedSecret,
    async seal(aad, pt) {
      const iv = computeNonce(baseNonce, seq++);
      return new Uint8Array(
        await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, cryptoKey, pt),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------
// Envelope v1
// ---------------------------------------------------------------------------------------

function checkId(id, what) {
  const bytes = utf8.encode(id);
  if (typeof id !== "string" || bytes.length < 1 || bytes.length > 255 || id.includes("/")) {
    throw new SealError("SEAL_INVALID_ID", `the ${what} must be 1–255 bytes without '/'`);
  }
  return bytes;
}

/** Number of chunks: max(1, ceil(len / 65536)). */
export function chunkCount(plaintextLength) {
  return Math.max(1, Math.ceil(plaintextLength / CHUNK_SIZE));
}

/** The envelope's total length, e.g. for an upload's Content-Length. */
export function envelopeLength(plaintextLength, { tenderId, bidderId, label = "" }) {
  const ids = utf8.encode(tenderId).length + utf8.encode(bidderId).length;
  const header = FIXED_LEN + 3 + ids + utf8.encode(label).length + NPK + WRAPPED_KEY_LEN;
  return header + plaintextLength + TAG_LEN * chunkCount(plaintextLength);
}

/** Builds the header; returns {header, contentKey (CryptoKey), aad}. */
async function buildHeader(opts, plaintextLength, material) {
  const tender = checkId(opts.tenderId, "tender id");
  const bidder = checkId(opts.bidderId, "bidder id");
  const label = utf8.encode(opts.label ?? "");
  if (label.length > 255) throw new SealError("SEAL_INVALID_ID", "the label is too long");
  if (!Number.isSafeInteger(plaintextLength) || plaintextLength < 0) {
    throw new SealError("SEAL_LENGTH_MISMATCH", "the plaintext length is not known");
  }
  const pk =
    typeof opts.openingPublicKey === "string"
      ? fromHex(opts.openingPublicKey)
      : opts.openingPublicKey;
  const info = concat(utf8.encode("sunbid/v1/"), tender, utf8.encode("/"), bidder);
  const ctx = await setupBaseS(pk, info, { ikmE: material?.ikmE });
  const fixed = new Uint8Array(FIXED_LEN);
  const view = new DataView(fixed.buffer);
  fixed.set(MAGIC, 0);
  view.setUint8(10, VERSION);
  view.setUint16(11, KEM_ID);
  view.setUint16(13, KDF_ID);
  view.setUint16(15, AEAD_ID);
  view.setUint32(17, CHUNK_SIZE);
  view.setBigUint64(21, BigInt(plaintextLength));
  const prefix = concat(
    fixed,
    Uint8Array.of(tender.length),
    tender,
    Uint8Array.of(bidder.length),
    bidder,
    Uint8Array.of(label.length),
    label,
    ctx.enc,
  );
  const rawKey = material?.contentKey
    ? Uint8Array.from(material.contentKey)
    : globalThis.crypto.getRandomValues(new Uint8Array(32));
  // RFC 9180 §5.2 ContextS.Seal(aad = header so far, pt = content key)
  const wrapped = await ctx.seal(prefix, rawKey);
  const header = concat(prefix, wrapped);
  const contentKey = await aesGcmKey(rawKey, "encrypt");
  rawKey.fill(0);
  return { header, contentKey, aad: await sha256(header) };
}

/** STREAM nonce: 11-byte big-endian counter ‖ last-chunk flag. */
export function chunkNonce(index, last) {
  const n = new Uint8Array(12);
  n.set(i2osp(index, 11), 0);
  n[11] = last ? 1 : 0;
  return n;
}

/** Yields the plaintext in chunk-sized pieces, checking the total length. */
async function* plaintextChunks(input, total) {
  const count = chunkCount(total);
  const sizeOf = (i) => (i === count - 1 ? total - i * CHUNK_SIZE : CHUNK_SIZE);
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    if (input.size !== total) throw mismatch(total, input.size);
    for (let i = 0; i < count; i++) {
      const start = i * CHUNK_SIZE;
      yield new Uint8Array(await input.slice(start, start + sizeOf(i)).arrayBuffer());
    }
    return;
  }
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    if (bytes.length !== total) throw mismatch(total, bytes.length);
    for (let i = 0; i < count; i++) {
      yield bytes.subarray(i * CHUNK_SIZE, i * CHUNK_SIZE + sizeOf(i));
    }
    return;
  }
  // A ReadableStream of Uint8Array: re-cut into chunks of exactly sizeOf(i) bytes.
  const reader = input.getReader();
  let seen = 0;
  let pending = [];
  let pendingLen = 0;
  try {
    for (let i = 0; i < count; i++) {
      const want = sizeOf(i);
      while (pendingLen < want) {
        const { value, done } = await reader.read();
        if (done) throw mismatch(total, seen);
        const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
        seen += bytes.length;
        if (seen > total) throw mismatch(total, seen);
        pending.push(bytes);
        pendingLen += bytes.length;
      }
      const joined = pending.length === 1 ? pending[0] : concat(...pending);
      yield joined.subarray(0, want);
      const rest = joined.subarray(want);
      pending = rest.length ? [rest] : [];
      pendingLen = rest.length;
    }
    const { value, done } = await reader.read();
    if (!done && value?.length) throw mismatch(total, seen + value.length);
  } finally {
    reader.releaseLock();
  }
}

function mismatch(declared, actual) {
  return new SealError(
    "SEAL_LENGTH_MISMATCH",
    `the part has ${actual} bytes but ${declared} were declared`,
  );
}

/**
 * Seals a part. `input` is a Blob/File (its size is the length), a Uint8Array, or a
 * ReadableStream of Uint8Array together with `length`. Returns a ReadableStream of the
 * envelope's bytes (header, then one piece per 64 KiB chunk), produced as it is read.
 * `onProgress({sealed, total})` is called after each chunk.
 *
 * `material: {ikmE, contentKey}` fixes the randomness: for test vectors only.
 */
export function sealStream(input, opts, material) {
  const total =
    opts.length ??
    (typeof Blob !== "undefined" && input instanceof Blob
      ? input.size
      : input instanceof Uint8Array || input instanceof ArrayBuffer
        ? input.byteLength
        : undefined);
  let state;
  return new ReadableStream(
    {
      async start(controller) {
        const { header, contentKey, aad } = await buildHeader(opts, total, material);
        state = {
          contentKey,
          aad,
          count: chunkCount(total),
          index: 0,
          sealed: 0,
          chunks: plaintextChunks(input, total),
        };
        controller.enqueue(header);
      },
      async pull(controller) {
        const s = state;
        if (s.index >= s.count) {
          controller.close();
          return;
        }
        const { value, done } = await s.chunks.next();
        if (done) throw mismatch(total, s.sealed);
        const last = s.index === s.count - 1;
        const ct = await subtle.encrypt(
          { name: "AES-GCM", iv: chunkNonce(s.index, last), additionalData: s.aad },
          s.contentKey,
          value,
        );
        s.index += 1;
        s.sealed += value.length;
        controller.enqueue(new Uint8Array(ct));
        opts.onProgress?.({ sealed: s.sealed, total });
        if (last) {
          // Runs the generator's final length check (a stream with extra bytes fails).
          const tail = await s.chunks.next();
          if (!tail.done) throw mismatch(total, s.sealed + 1);
          controller.close();
        }
      },
      cancel() {
        state?.chunks.return?.();
      },
    },
    { highWaterMark: 1 },
  );
}

/** Reads a whole stream into one Uint8Array (tests and small parts only). */
export async function collect(stream) {
  const parts = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return concat(...parts);
}

/**
 * Parses and checks a v1 header (no key needed), like EnvelopeHeader::parse in Rust.
 * Returns {tenderId, bidderId, label, plaintextLength, headerLength, enc, wrapAad,
 * wrappedKey, header}.
 */
export function parseHeader(bytes) {
  const need = (n) => {
    if (bytes.length < n) throw new SealError("SEAL_TRUNCATED", "the envelope is truncated");
  };
  if (bytes.length === 0 || MAGIC.some((b, i) => i < bytes.length && bytes[i] !== b)) {
    throw new SealError("SEAL_NOT_AN_ENVELOPE", "this file is not a Sunbid sealed envelope");
  }
  need(FIXED_LEN);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(10);
  if (version !== VERSION) {
    throw new SealError("SEAL_UNSUPPORTED_VERSION", `format version ${version} is not supported`);
  }
  if (view.getUint16(11) !== KEM_ID || view.getUint16(13) !== KDF_ID || view.getUint16(15) !== AEAD_ID) {
    throw new SealError("SEAL_UNSUPPORTED_SUITE", "unsupported cipher suite");
  }
  if (view.getUint32(17) !== CHUNK_SIZE) throw new SealError("SEAL_MALFORMED", "chunk size");
  const plaintextLength = Number(view.getBigUint64(21));
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pos = FIXED_LEN;
  const text = () => {
    need(pos + 1);
    const len = bytes[pos];
    need(pos + 1 + len);
    const s = bytes.subarray(pos + 1, pos + 1 + len);
    pos += 1 + len;
    try {
      return decoder.decode(s);
    } catch {
      throw new SealError("SEAL_MALFORMED", "text that is not UTF-8");
    }
  };
  const tenderId = text();
  const bidderId = text();
  const label = text();
  for (const id of [tenderId, bidderId]) {
    if (!id || id.includes("/")) throw new SealError("SEAL_MALFORMED", "empty id or one with '/'");
  }
  need(pos + NPK + WRAPPED_KEY_LEN);
  const enc = bytes.subarray(pos, pos + NPK);
  const headerLength = pos + NPK + WRAPPED_KEY_LEN;
  return {
    tenderId,
    bidderId,
    label,
    plaintextLength,
    headerLength,
    enc,
    wrapAad: bytes.subarray(0, pos + NPK),
    wrappedKey: bytes.subarray(pos + NPK, headerLength),
    header: bytes.subarray(0, headerLength),
  };
}

/**
 * Opens a whole envelope held in memory with the opening key derived from `openingSeed`
 * (32 bytes). The platform opens on the server; this exists so the JavaScript can be
 * checked against the shared vectors and for offline verification tools.
 */
export async function openEnvelope(bytes, { openingSeed, tenderId, bidderId }) {
  const h = parseHeader(bytes);
  if (h.tenderId !== tenderId) throw new SealError("SEAL_WRONG_TENDER", "sealed for another tender");
  if (h.bidderId !== bidderId) throw new SealError("SEAL_WRONG_BIDDER", "sealed for another bidder");
  const count = chunkCount(h.plaintextLength);
  const expected = h.headerLength + h.plaintextLength + TAG_LEN * count;
  if (bytes.length < expected) throw new SealError("SEAL_TRUNCATED", "the envelope is truncated");
  if (bytes.length > expected) throw new SealError("SEAL_TRAILING_DATA", "data after the final chunk");
  const { privateKey, publicKey } = await deriveKeyPair(openingSeed);
  const info = utf8.encode(`sunbid/v1/${h.tenderId}/${h.bidderId}`);
  let rawKey;
  try {
    const ss = await decap(h.enc, privateKey, publicKey);
    const { key, baseNonce } = await keySchedule(ss, info);
    rawKey = new Uint8Array(
      await subtle.decrypt(
        { name: "AES-GCM", iv: baseNonce, additionalData: h.wrapAad },
        await aesGcmKey(key, "decrypt"),
        h.wrappedKey,
      ),
    );
  } catch {
    throw new SealError("SEAL_KEY_UNWRAP", "the content key cannot be unwrapped");
  }
  const contentKey = await aesGcmKey(rawKey, "decrypt");
  rawKey.fill(0);
  const aad = await sha256(h.header);
  const out = new Uint8Array(h.plaintextLength);
  let off = h.headerLength;
  for (let i = 0; i < count; i++) {
    const len = (i === count - 1 ? h.plaintextLength - i * CHUNK_SIZE : CHUNK_SIZE) + TAG_LEN;
    try {
      const pt = await subtle.decrypt(
        { name: "AES-GCM", iv: chunkNonce(i, i === count - 1), additionalData: aad },
        contentKey,
        bytes.subarray(off, off + len),
      );
      out.set(new Uint8Array(pt), i * CHUNK_SIZE);
    } catch {
      throw new SealError("SEAL_CHUNK_ALTERED", `chunk ${i} has been altered or moved`);
    }
    off += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Custodian keys held by a passkey (docs/seal-format.md, "Custodian keys")
// ---------------------------------------------------------------------------------------

/** HKDF-SHA256 `info` that turns a WebAuthn PRF output into the key-wrapping key. */
export const PRF_WRAP_INFO = utf8.encode("sunbid/v1/custodian-key/webauthn-prf");
const PRF_LEN = 32;
const SHARE_LEN = 33;

/** Standard base64 (with padding) → Uint8Array. */
export function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Uint8Array → standard base64 (with padding). */
export function toBase64(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The 32-byte AES-256-GCM key wrapping a custodian scalar: HKDF-SHA256(salt empty, PRF output, info). */
export async function prfWrappingKey(prfOutput) {
  const prf = new Uint8Array(prfOutput);
  if (prf.length !== PRF_LEN) throw new SealError("SEAL_BAD_KEY_MATERIAL", "a PRF output has 32 bytes");
  const ikm = await subtle.importKey("raw", prf, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: PRF_WRAP_INFO },
    ikm,
    256,
  );
  return new Uint8Array(bits);
}

function leftPad32(bytes) {
  if (bytes.length >= 32) return bytes;
  return concat(new Uint8Array(32 - bytes.length), bytes);
}

/** A fresh P-256 key pair made here (WebCrypto): {scalar (32 bytes), publicKey (65 bytes)}. */
export async function generateCustodianKeyPair() {
  const pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const jwk = await subtle.exportKey("jwk", pair.privateKey);
  const scalar = leftPad32(fromBase64url(jwk.d));
  const publicKey = concat(Uint8Array.of(4), leftPad32(fromBase64url(jwk.x)), leftPad32(fromBase64url(jwk.y)));
  return { scalar, publicKey };
}

/**
 * Wraps a custodian scalar under a PRF output: AES-256-GCM with the public key as associated
 * data. `nonce` (12 bytes) is random unless given (test vectors). Returns {nonce, wrapped}.
 */
export async function wrapCustodianScalar(scalar, publicKey, prfOutput, nonce) {
  const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
  const raw = await prfWrappingKey(prfOutput);
  const key = await aesGcmKey(raw, "encrypt");
  raw.fill(0);
  const wrapped = new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv, additionalData: publicKey }, key, scalar),
  );
  return { nonce: iv, wrapped };
}

/**
 * Unwraps the scalar of a version-2 custodian key record (JSON as stored) with the passkey's
 * PRF output; checks that it belongs to the record's public key. Returns the 32-byte scalar.
 */
export async function unwrapCustodianScalar(record, prfOutput) {
  if (record.version !== 2 || record.kdf !== "webauthn-prf") {
    throw new SealError("SEAL_BAD_KEY_MATERIAL", "not a custodian key held by a passkey");
  }
  const publicKey = fromBase64(record.public_key);
  const raw = await prfWrappingKey(prfOutput);
  const key = await aesGcmKey(raw, "decrypt");
  raw.fill(0);
  let scalar;
  try {
    scalar = new Uint8Array(
      await subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64(record.nonce), additionalData: publicKey },
        key,
        fromBase64(record.ciphertext),
      ),
    );
  } catch {
    throw new SealError("SEAL_WRONG_PASSPHRASE", "this passkey does not unlock this custodian key");
  }
  // AES-GCM authenticated the scalar together with the public key (the AAD), as the
  // browser that enrolled made them; a mismatch could only come from that browser.
  if (scalar.length !== 32) throw new SealError("SEAL_BAD_KEY_MATERIAL", "a private scalar has 32 bytes");
  return scalar;
}

/**
 * Imports a private scalar with its public key as an ECDH CryptoKey (JWK: Chromium refuses
 * an EC PKCS#8 key without the public key, which `importPrivateScalar` builds).
 */
async function importKeyPairJwk(scalar, publicKey) {
  const jwk = {
    kty: "EC",
    crv: "P-256",
    d: base64url(scalar),
    x: base64url(publicKey.subarray(1, 33)),
    y: base64url(publicKey.subarray(33, 65)),
  };
  return subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
}

/**
 * RFC 9180 §6.1 OpenBase of a share sealed to a custodian (SealedShare JSON as stored):
 * info = "sunbid/v1/share/" ‖ tender id, empty associated data, sequence number 0.
 * Returns the 33-byte share.
 */
export async function openShare(sealed, scalar, tenderId) {
  if (sealed.version !== 1) throw new SealError("SEAL_SHARE_UNWRAP", "unknown sealed share version");
  if (sealed.tender_id !== tenderId) throw new SealError("SEAL_WRONG_TENDER", "a share of another tender");
  const publicKey = fromBase64(sealed.custodian_key);
  if (publicKey.length !== NPK || publicKey[0] !== 4) {
    throw new SealError("SEAL_SHARE_UNWRAP", "the share names no valid custodian key");
  }
  let share;
  try {
    // A scalar of another key fails here (the JWK pair is checked) or at the AEAD below.
    const privateKey = await importKeyPairJwk(scalar, publicKey);
    const ss = await decap(fromBase64(sealed.enc), privateKey, publicKey);
    const { key, baseNonce } = await keySchedule(ss, utf8.encode(`sunbid/v1/share/${tenderId}`));
    share = new Uint8Array(
      await subtle.decrypt(
        { name: "AES-GCM", iv: baseNonce, additionalData: new Uint8Array(0) },
        await aesGcmKey(key, "decrypt"),
        fromBase64(sealed.ciphertext),
      ),
    );
  } catch {
    throw new SealError("SEAL_SHARE_UNWRAP", "this share does not open with this custodian key");
  }
  if (share.length !== SHARE_LEN) throw new SealError("SEAL_INVALID_SHARES", "a share must be 33 bytes");
  return share;
}

/** The digest stored for a share when it is issued: SHA-256("sunbid/v1/share-digest/" ‖ tender id ‖ 0x00 ‖ share). */
export async function shareDigest(tenderId, share) {
  return sha256(concat(utf8.encode(`sunbid/v1/share-digest/${tenderId}`), Uint8Array.of(0), share));
}

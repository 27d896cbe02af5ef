// An independent check of a WACZ file, sharing no code with Exhibit's
// writer and needing nothing beyond Node: it reads the ZIP's central
// directory by hand and checks that
//
//   - every entry is stored (method 0), so that each WARC record can be read
//     at its offset, and no name appears twice;
//   - datapackage-digest.json's hash is the sha256 of datapackage.json;
//   - every resource datapackage.json lists exists with its size and sha256,
//     and every other entry is listed;
//   - every line of indexes/index.cdxj points, by filename, offset and
//     length, at a whole WARC record whose WARC-Target-URI is the line's url
//     and whose WARC-Payload-Digest is its digest;
//   - every page of pages/pages.jsonl is in the index.
//
//   node scripts/wacz-check.mjs FILE.wacz    prints "wacz ok: …", or the
//                                            first problem and exits 1
import { openSync, readSync, fstatSync, closeSync } from "node:fs";
import { createHash } from "node:crypto";

process.on("uncaughtException", (e) => {
  console.error("wacz-check: " + e.message);
  process.exit(1);
});

const file = process.argv[2];
if (!file) {
  console.error("usage: node wacz-check.mjs FILE.wacz");
  process.exit(2);
}
const fd = openSync(file, "r");
const size = fstatSync(fd).size;

function read(off, n) {
  if (off < 0 || n < 0 || off + n > size) throw new Error(`read of ${n} bytes at ${off} is outside the file (${size} bytes)`);
  const b = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = readSync(fd, b, got, n - got, off + got);
    if (k === 0) throw new Error("short read");
    got += k;
  }
  return b;
}

function sha256(off, n) {
  const h = createHash("sha256");
  for (let at = 0; at < n; at += 1 << 20) h.update(read(off + at, Math.min(1 << 20, n - at)));
  return "sha256:" + h.digest("hex");
}

// The end of central directory record, and ZIP64's when the sizes need it.
const tail = read(Math.max(0, size - 65557), Math.min(size, 65557));
const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
if (eocd < 0) throw new Error("not a ZIP: no end of central directory");
let count = tail.readUInt16LE(eocd + 10);
let cdSize = tail.readUInt32LE(eocd + 12);
let cdOff = tail.readUInt32LE(eocd + 16);
if (count === 0xffff || cdSize === 0xffffffff || cdOff === 0xffffffff) {
  const loc = eocd - 20;
  if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw new Error("ZIP64 sizes without a ZIP64 locator");
  const z = read(Number(tail.readBigUInt64LE(loc + 8)), 56);
  if (z.readUInt32LE(0) !== 0x06064b50) throw new Error("bad ZIP64 end of central directory");
  count = Number(z.readBigUInt64LE(32));
  cdSize = Number(z.readBigUInt64LE(40));
  cdOff = Number(z.readBigUInt64LE(48));
}

// The entries: name -> {offset of the data, size}.
const entries = new Map();
const cd = read(cdOff, cdSize);
for (let at = 0, i = 0; i < count; i++) {
  if (cd.readUInt32LE(at) !== 0x02014b50) throw new Error(`central directory entry ${i} is damaged`);
  const method = cd.readUInt16LE(at + 10);
  let csize = cd.readUInt32LE(at + 20), usize = cd.readUInt32LE(at + 24), local = cd.readUInt32LE(at + 42);
  const nlen = cd.readUInt16LE(at + 28), elen = cd.readUInt16LE(at + 30), clen = cd.readUInt16LE(at + 32);
  const name = cd.subarray(at + 46, at + 46 + nlen).toString("utf8");
  // ZIP64 extra field: the 8-byte values, in order, of those set to 0xffffffff.
  for (let e = at + 46 + nlen; e < at + 46 + nlen + elen; ) {
    const id = cd.readUInt16LE(e), n = cd.readUInt16LE(e + 2);
    if (id === 1) {
      let p = e + 4;
      if (usize === 0xffffffff) { usize = Number(cd.readBigUInt64LE(p)); p += 8; }
      if (csize === 0xffffffff) { csize = Number(cd.readBigUInt64LE(p)); p += 8; }
      if (local === 0xffffffff) { local = Number(cd.readBigUInt64LE(p)); p += 8; }
    }
    e += 4 + n;
  }
  at += 46 + nlen + elen + clen;
  if (method !== 0 || csize !== usize) throw new Error(`${name}: compressed (method ${method}); a WACZ stores its entries`);
  if (entries.has(name)) throw new Error(`${name}: in the ZIP twice`);
  const lh = read(local, 30);
  if (lh.readUInt32LE(0) !== 0x04034b50) throw new Error(`${name}: no local header at ${local}`);
  entries.set(name, { off: local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28), size: usize });
}
const entry = (name) => {
  const e = entries.get(name);
  if (!e) throw new Error(`${name}: not in the ZIP`);
  return e;
};
const text = (name) => { const e = entry(name); return read(e.off, e.size).toString("utf8"); };

// The digest file and the package.
const dp = entry("datapackage.json");
const digest = JSON.parse(text("datapackage-digest.json"));
if (digest.hash !== sha256(dp.off, dp.size)) throw new Error("datapackage-digest.json: its hash is not datapackage.json's");
const pkg = JSON.parse(text("datapackage.json"));
const listed = new Set(["datapackage.json", "datapackage-digest.json"]);
for (const r of pkg.resources || []) {
  const e = entry(r.path);
  listed.add(r.path);
  if (r.bytes !== e.size) throw new Error(`${r.path}: ${e.size} bytes, datapackage.json says ${r.bytes}`);
  if (r.hash !== sha256(e.off, e.size)) throw new Error(`${r.path}: its sha256 is not the one datapackage.json gives`);
}
for (const name of entries.keys()) if (!listed.has(name)) throw new Error(`${name}: in the ZIP but not in datapackage.json`);

// The index: each line names a whole record by its place.
const urls = new Set();
let lines = 0;
for (const line of text("indexes/index.cdxj").split("\n")) {
  if (!line) continue;
  lines++;
  const j = JSON.parse(line.slice(line.indexOf("{")));
  const w = entry("archive/" + j.filename);
  const off = Number(j.offset), len = Number(j.length);
  if (off + len > w.size) throw new Error(`index line ${lines}: record at ${off} (+${len}) beyond ${j.filename}`);
  const rec = read(w.off + off, len);
  const end = rec.indexOf("\r\n\r\n");
  if (!rec.subarray(0, 10).equals(Buffer.from("WARC/1.1\r\n")) || end < 0) throw new Error(`index line ${lines}: no WARC record at offset ${off}`);
  const fields = new Map();
  for (const l of rec.subarray(10, end).toString("utf8").split("\r\n")) {
    const c = l.indexOf(":");
    fields.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
  }
  if (fields.get("warc-target-uri") !== j.url) throw new Error(`index line ${lines}: the record at ${off} is for ${fields.get("warc-target-uri")}, not ${j.url}`);
  if (end + 4 + Number(fields.get("content-length")) + 4 !== len) throw new Error(`index line ${lines}: length ${len} is not the record's`);
  if (j.digest && fields.get("warc-payload-digest") !== j.digest) throw new Error(`index line ${lines}: digest is not the record's`);
  urls.add(j.url);
}

// The pages.
const pages = text("pages/pages.jsonl").split("\n").filter(Boolean).map((l) => JSON.parse(l));
for (const p of pages.slice(1)) if (!urls.has(p.url)) throw new Error(`page ${p.url} is not in the index`);
closeSync(fd);
console.log(`wacz ok: ${entries.size} files, ${(pkg.resources || []).length} resources, ${lines} index entries, ${pages.length - 1} pages`);

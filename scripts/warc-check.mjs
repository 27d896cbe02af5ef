// An independent check of a WARC file, sharing no code with Exhibit's
// writer: warcio.js (npm, pinned in scripts/tools.sh) parses the records
// without interpreting HTTP, and this script recomputes, with Node's own
// crypto, each record's WARC-Block-Digest and, for HTTP requests and
// responses, WARC-Payload-Digest (the entity body with chunk framing
// removed, content coding kept; interim 1xx responses skipped), and checks
// Content-Length against the bytes read.
//
//   WARCIO_MODULE=.tools/npm/node_modules/warcio/dist/index.js \
//   node scripts/warc-check.mjs FILE.warc    prints "N records ok", or the
//                                            first mismatch and exits 1
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";

// WARCIO_MODULE names warcio.js's dist/index.js (scripts/tools.sh installs
// it under .tools/npm); without it, "warcio" as Node resolves it.
const { WARCParser } = await import(process.env.WARCIO_MODULE ? pathToFileURL(process.env.WARCIO_MODULE).href : "warcio");

const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");

// body splits an HTTP message into its header and its entity body,
// de-chunking a chunked transfer coding.
function body(msg, response) {
  let at = 0;
  for (;;) {
    const end = msg.indexOf("\r\n\r\n", at, "latin1");
    if (end < 0) throw new Error("HTTP header without its end");
    const head = msg.subarray(at, end).toString("latin1");
    at = end + 4;
    const status = head.split("\r\n")[0].split(" ")[1] || "";
    if (response && status.startsWith("1") && status !== "101") continue;
    if (response && status === "101") return Buffer.alloc(0);
    const te = head.split("\r\n").find((l) => /^transfer-encoding:/i.test(l));
    const codings = te ? te.split(":")[1].toLowerCase().split(",").map((s) => s.trim()) : [];
    if (codings[codings.length - 1] !== "chunked") return msg.subarray(at);
    const parts = [];
    for (;;) {
      const eol = msg.indexOf("\r\n", at, "latin1");
      if (eol < 0) throw new Error("chunk size line cut short");
      const size = parseInt(msg.subarray(at, eol).toString("latin1").split(";")[0].trim(), 16);
      if (Number.isNaN(size)) throw new Error("chunk size not hexadecimal");
      at = eol + 2;
      if (size === 0) return Buffer.concat(parts);
      if (at + size + 2 > msg.length) throw new Error("chunk cut short");
      parts.push(msg.subarray(at, at + size));
      at += size + 2;
    }
  }
}

const file = process.argv[2];
const parser = new WARCParser(createReadStream(file), { parseHttp: false, keepHeadersCase: true });
let n = 0;
try {
  for await (const record of parser) {
    const block = Buffer.from(await record.readFully(false));
    const where = `record ${n} (${record.warcType} ${record.warcTargetURI || ""})`;
    if (block.length !== record.warcContentLength) {
      throw new Error(`${where}: Content-Length ${record.warcContentLength}, ${block.length} bytes read`);
    }
    const bd = record.warcBlockDigest;
    if (!bd || bd !== sha256(block)) throw new Error(`${where}: WARC-Block-Digest ${bd}, the block gives ${sha256(block)}`);
    const pd = record.warcPayloadDigest;
    const http = (record.warcContentType || "").startsWith("application/http");
    if ((record.warcType === "request" || record.warcType === "response") && http) {
      const want = sha256(body(block, record.warcType === "response"));
      if (pd !== want) throw new Error(`${where}: WARC-Payload-Digest ${pd}, the payload gives ${want}`);
    } else if (record.warcType === "resource" && pd !== sha256(block)) {
      throw new Error(`${where}: WARC-Payload-Digest ${pd}, the block gives ${sha256(block)}`);
    }
    n++;
  }
} catch (e) {
  console.error(`${file}: ${e.message}`);
  process.exit(1);
}
if (n === 0) {
  console.error(`${file}: no records`);
  process.exit(1);
}
console.log(`${n} records ok`);

// The tus peer's server: @tus/server with @tus/s3-store, in front of the bench's S3 server, at
// their defaults but for what S3 needs (bucket, endpoint, path-style, credentials).
//   node server.mjs HOST PORT S3_ENDPOINT BUCKET    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
// The store keeps each upload under its tus id (plus `<id>.info`); the object is complete when
// the last PATCH is answered.
import http from "node:http";
import { Server } from "@tus/server";
import { S3Store } from "@tus/s3-store";

const [host, port, endpoint, bucket] = process.argv.slice(2);
if (!bucket) {
  console.error("usage: node server.mjs HOST PORT S3_ENDPOINT BUCKET");
  process.exit(2);
}
const datastore = new S3Store({
  s3ClientConfig: {
    bucket,
    endpoint,
    region: process.env.AWS_DEFAULT_REGION || "garage",
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
  },
});
const tus = new Server({ path: "/files", datastore });
const server = http.createServer((req, res) => tus.handle(req, res));
// Node's own limit on one request (5 minutes) would cut tus-js-client's single PATCH on a slow
// path (answered 408, which tus-js-client does not retry); a tus deployment lifts it, as tusd has
// no such limit.
server.requestTimeout = 0;
server.listen(Number(port), host, () => console.log(`tus server on http://${host}:${port}/files -> ${endpoint}/${bucket}`));

// The tus peer's client: tus-js-client at its defaults (one PATCH carrying the whole file,
// its default retry delays), from a file on disk.
//   node upload.mjs FILE ENDPOINT      -> prints the upload URL when the server has it all
import fs from "node:fs";
import path from "node:path";
import { Upload } from "tus-js-client";

const [file, endpoint] = process.argv.slice(2);
if (!endpoint) {
  console.error("usage: node upload.mjs FILE ENDPOINT");
  process.exit(2);
}
const upload = new Upload(fs.createReadStream(file), {
  endpoint,
  metadata: { filename: path.basename(file) },
  onError(error) {
    console.error(`tus upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(upload.url);
  },
});
upload.start();

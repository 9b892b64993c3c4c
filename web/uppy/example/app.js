// The README's example: an Uppy Dashboard whose uploader is JettySpeed. The coordinator and the
// API key come from the page's fragment (#coordinator=URL&key=KEY, never sent to a server);
// scripts/example-server.mjs bundles and serves this page (and tests/uppy_page.mjs drives it).
import Uppy from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import JettySpeed from "@jettyspeed/uppy";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";
import "./app.css";

const params = new URLSearchParams(location.hash.slice(1));

const uppy = new Uppy()
  .use(Dashboard, { inline: true, target: "#uppy", width: "100%", height: 440, proudlyDisplayPoweredByUppy: false })
  .use(JettySpeed, {
    baseUrl: params.get("coordinator") ?? undefined, // default: this page's origin
    apiKey: params.get("key") ?? "",
    workerUrl: "/hash-worker.js", // @jettyspeed/sdk/hash-worker, served by this origin
  });

uppy.on("upload-success", (file, response) => {
  console.log(`${file?.name}: ${response.body.fileId} ${response.uploadURL}`);
});

// For the browser test (and the console): the Uppy instance.
window.uppy = uppy;

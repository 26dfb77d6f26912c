// Checks a WACZ's signedData with ReplayWeb.page's own verifier (wabac.js
// verifyWACZSignature, bundled by scripts/wacz-verifier.sh).
// Usage: node tests/wacz_signature_check.mjs VERIFIER.mjs DATAPACKAGE-DIGEST.json
// Prints the verifier's result list as JSON; exits 0 if the signature verified, 1 if not.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [verifierPath, digestPath] = process.argv.slice(2);
const { verifyWACZSignature } = await import(pathToFileURL(verifierPath).href);
const digest = JSON.parse(readFileSync(digestPath, "utf8"));
const results = await verifyWACZSignature(digest.signedData);
console.log(JSON.stringify(results));
const signature = results.find((r) => r.id === "signature");
process.exit(signature && signature.matched === true ? 0 : 1);

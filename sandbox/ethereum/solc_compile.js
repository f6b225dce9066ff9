// Compile Solidity offline with the pinned npm `solc` (solcjs).
// Reads a Standard JSON input on stdin and writes the Standard JSON output to stdout.
const solc = require("solc");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(input));
});

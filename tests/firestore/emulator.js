// Starts the npm Firestore emulator (@firestore-emulator/server) on 127.0.0.1:PORT.
// Run by tests/firestore/__init__.py with NODE_PATH pointing at its install.
const { FirestoreServer } = require("@firestore-emulator/server");

const port = Number(process.argv[2]);
const server = new FirestoreServer();
server.start(port).then(() => {
  console.log(`firestore emulator listening on ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}

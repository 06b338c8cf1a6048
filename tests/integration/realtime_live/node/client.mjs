// A web-style Yjs client for the live room tests: yjs + y-websocket over the `ws` package.
//
// Usage: node client.mjs <serverUrl> <accessToken>
// It joins the room "code" of <serverUrl> (the dojo's wsUrl) and speaks JSON lines:
// stdout: {"event": "synced" | "text" | "awareness" | "closed" | "permission-denied", ...}
// stdin:  {"insert": [index, text]} | {"awareness": {field: value}} | {"quit": true}
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const [serverUrl, token] = process.argv.slice(2)
const doc = new Y.Doc()
const text = doc.getText('code')
const provider = new WebsocketProvider(serverUrl, 'code', doc, {
  WebSocketPolyfill: WebSocket,
  params: { access_token: token },
  disableBc: true
})
// y-websocket reports the server's permission-denied message on the console; relay it.
console.warn = (...args) => emit({ event: 'permission-denied', message: args.join(' ') })

function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

provider.on('sync', (synced) => {
  if (synced) emit({ event: 'synced', text: text.toString(), clientId: doc.clientID })
})
provider.on('connection-close', (closeEvent) => {
  emit({ event: 'closed', code: closeEvent?.code ?? null, reason: closeEvent?.reason?.toString() ?? '' })
})
text.observe(() => emit({ event: 'text', text: text.toString() }))
provider.awareness.on('change', () => {
  emit({ event: 'awareness', states: Array.from(provider.awareness.getStates().entries()) })
})

const input = readline.createInterface({ input: process.stdin })
input.on('line', (line) => {
  const command = JSON.parse(line)
  if (command.insert) {
    const [index, inserted] = command.insert
    text.insert(index < 0 ? text.length : index, inserted)
  }
  if (command.awareness) {
    for (const [field, value] of Object.entries(command.awareness)) {
      provider.awareness.setLocalStateField(field, value)
    }
  }
  if (command.quit) {
    provider.destroy()
    process.exit(0)
  }
})
input.on('close', () => {
  provider.destroy()
  process.exit(0)
})

// The realtime protocol shared with the Worker (worker/protocol.ts): frame
// types, list rules and markers. One definition for server and desk.
export * from "../../../worker/protocol";

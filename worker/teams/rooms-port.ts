// What the hub asks of chat rooms, behind one small interface: the rooms own
// their conversations and have the last word (a room refuses an assignment it
// can no longer apply), the hub only decides who should get what.
import type { Env } from "../env";
import type { AssignRequest, AssignResult } from "../rpc";

/** Why a conversation goes back to the queue: its agent went offline, did not answer in time, or left the team. */
export type RequeueReason = "offline" | "timeout" | "removed";

export interface RoomPort {
  /** Make `req.agent` the assignee; ok:false "conflict" when no longer assignable (closed, taken). */
  applyAssignment(req: AssignRequest): Promise<AssignResult>;
  /** Take the conversation away from `agentId` and put it back in the queue. */
  requeue(roomId: string, conversationId: string, agentId: string, reason: RequeueReason): Promise<boolean>;
}

/** The RPC methods ChatRoom exposes to the hub. */
interface ChatRoomAssignmentRpc {
  applyAssignment(req: AssignRequest): Promise<AssignResult>;
  requeue(conversationId: string, agentId: string, reason: RequeueReason): Promise<boolean>;
}

export function chatRooms(env: Env): RoomPort {
  // Narrow cast: the stub's generated type follows ChatRoom's methods, and
  // this interface is the contract the room implements.
  const room = (roomId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(roomId)) as unknown as ChatRoomAssignmentRpc;
  return {
    async applyAssignment(req) {
      const result = await room(req.roomId).applyAssignment(req);
      // An RPC result object keeps its call open on the room until disposed
      // (the room's eviction waits on it); copy the plain fields and let go.
      const plain: AssignResult = result.ok ? { ok: true, summary: result.summary } : { ok: false, code: result.code, message: result.message, summary: result.summary };
      (result as Partial<Disposable>)[Symbol.dispose]?.();
      return plain;
    },
    requeue: (roomId, conversationId, agentId, reason) => room(roomId).requeue(conversationId, agentId, reason),
  };
}

/** Room calls still running; tests and shutdown-sensitive code can wait for them. */
export class Background {
  private readonly pending = new Set<Promise<unknown>>();

  run(work: Promise<unknown>): void {
    // Callers handle their own failures; this only keeps a stray one from going unhandled.
    const tracked = work
      .catch((err) => console.error(JSON.stringify({ level: "error", msg: "team hub background work failed", error: String(err) })))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves once nothing is running, including work started by the work it waited for. */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}

/** The hub's notion of now. Tests move it forward instead of sleeping for timers. */
export class Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

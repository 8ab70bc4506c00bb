// Files attached in the composer: uploaded at once (raw body to R2 through
// the Worker), sent as refs with their receipts when the message goes.
import { api, ApiError, type UploadedAttachment } from "../api";
import type { AttachmentRef } from "../protocol";

export interface Upload {
  id: number;
  name: string;
  status: "uploading" | "done" | "failed";
  ref: UploadedAttachment | null;
  error: string;
}

let nextId = 1;

export class Uploads {
  items = $state<Upload[]>([]);
  readonly #roomId: string;

  constructor(roomId: string) {
    this.#roomId = roomId;
  }

  get busy(): boolean {
    return this.items.some((u) => u.status === "uploading");
  }

  get refs(): AttachmentRef[] {
    return this.items.flatMap((u) => (u.ref ? [{ key: u.ref.key, name: u.ref.name, type: u.ref.type, size: u.ref.size, receipt: u.ref.receipt }] : []));
  }

  add(files: Iterable<File>): void {
    for (const file of files) void this.#upload(file);
  }

  remove(id: number): void {
    this.items = this.items.filter((u) => u.id !== id);
  }

  clear(): void {
    this.items = [];
  }

  async #upload(file: File): Promise<void> {
    const id = nextId++;
    // Pasted screenshots come without a useful name.
    const name = file.name && file.name !== "image.png" ? file.name : `pasted-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}.${file.type.split("/")[1] || "png"}`;
    const named = file.name === name ? file : new File([file], name, { type: file.type });
    this.items.push({ id, name, status: "uploading", ref: null, error: "" });
    try {
      const ref = await api.uploadAttachment(this.#roomId, named);
      this.#update(id, { status: "done", ref });
    } catch (err) {
      this.#update(id, { status: "failed", error: err instanceof ApiError ? err.message : "Upload failed." });
    }
  }

  #update(id: number, patch: Partial<Upload>): void {
    const u = this.items.find((x) => x.id === id);
    if (u) Object.assign(u, patch);
  }
}

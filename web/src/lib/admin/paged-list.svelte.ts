// One page of an admin list, refetched from the API after every change.
import { ApiError, type Page } from "../api";
import { describeError } from "../form.svelte";

export const PER_PAGE = 50;

export class PagedList<T> {
  page = $state(1);
  data = $state<Page<T> | null>(null);
  error = $state("");
  loading = $state(false);
  #fetch: (page: number, perPage: number) => Promise<Page<T>>;

  constructor(fetchPage: (page: number, perPage: number) => Promise<Page<T>>) {
    this.#fetch = fetchPage;
  }

  get items(): T[] {
    return this.data?.items ?? [];
  }

  async refresh(): Promise<void> {
    this.loading = true;
    try {
      const data = await this.#fetch(this.page, PER_PAGE);
      // A deletion can empty the last page: step back to one that has rows.
      if (!data.items.length && data.total > 0 && this.page > 1) {
        this.page = Math.ceil(data.total / PER_PAGE);
        return this.refresh();
      }
      this.data = data;
      this.error = "";
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.error = describeError(err);
    } finally {
      this.loading = false;
    }
  }

  goTo(page: number): Promise<void> {
    this.page = page;
    return this.refresh();
  }
}

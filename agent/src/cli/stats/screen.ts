/**
 * Terminal handling for the live view. On a terminal each frame is drawn
 * over the last one in place (cursor home, every line cleared to its end,
 * the rest of the screen cleared below), with the cursor hidden until the
 * view ends; no whole-screen clear, so nothing flickers. Anywhere else the
 * frames are written one after the other with no escape codes at all.
 */

export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';
const CURSOR_HOME = '\x1b[H';
const CLEAR_TO_LINE_END = '\x1b[K';
const CLEAR_TO_SCREEN_END = '\x1b[J';

/** What the view needs of stdout; a tty.WriteStream fits. */
export interface Output {
  write(text: string): boolean;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface ScreenSize {
  readonly columns: number;
  readonly rows: number;
}

/**
 * The bytes that draw `text` over the previous frame. Lines are cut one
 * short of the width (writing the last column leaves the cursor there, so
 * the line clear would erase it) and to one line short of the height, so
 * the screen never scrolls and home stays the top of the frame.
 */
export function redraw(text: string, size: ScreenSize): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const shown = lines.slice(0, Math.max(size.rows - 1, 1));
  const body = shown
    .map((line) => `${cut(line, size.columns - 1)}${CLEAR_TO_LINE_END}\n`)
    .join('');
  return CURSOR_HOME + body + CLEAR_TO_SCREEN_END;
}

function cut(line: string, columns: number): string {
  // Code points, not UTF-16 units: one per terminal cell for our text.
  const chars = Array.from(line);
  return chars.length <= columns ? line : chars.slice(0, columns).join('');
}

/** Used when a terminal does not report its size. */
const FALLBACK_SIZE: ScreenSize = { columns: 80, rows: 24 };

export class Screen {
  private active = false;

  /**
   * `live`: whether frames replace each other, which needs a terminal;
   * with `--no-stream` or when piped the output is plain text.
   */
  constructor(
    private readonly out: Output,
    private readonly live: boolean,
  ) {}

  /** Whether frames are drawn in place (a terminal, streaming). */
  get inPlace(): boolean {
    return this.live && this.out.isTTY === true;
  }

  frame(text: string): void {
    if (!this.inPlace) {
      this.out.write(text);
      return;
    }
    if (!this.active) {
      this.active = true;
      this.out.write(HIDE_CURSOR);
    }
    this.out.write(
      redraw(text, {
        columns: this.out.columns ?? FALLBACK_SIZE.columns,
        rows: this.out.rows ?? FALLBACK_SIZE.rows,
      }),
    );
  }

  /** Gives the cursor back; safe to call more than once. */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    this.out.write(SHOW_CURSOR);
  }
}

/**
 * pdf.js (through unpdf) made ready for Node 20: it moves buffers with
 * ArrayBuffer.prototype.transferToFixedLength, which Node 20 lacks. Without it a page with
 * images or fonts fails to draw (and a render can wait forever). The same move is done here by
 * structured clone (the original is detached, as the standard method leaves it). Import this
 * module before using unpdf anywhere: the sandbox worker does, and so does the bench.
 */
(ArrayBuffer.prototype as { transferToFixedLength?: (length?: number) => ArrayBuffer }).transferToFixedLength ??=
  function (this: ArrayBuffer, length?: number) {
    const moved = structuredClone(this, { transfer: [this] });
    return length === undefined || length === moved.byteLength ? moved : moved.slice(0, length);
  };

export {};

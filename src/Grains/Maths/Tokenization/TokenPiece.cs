namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>One token of an encoded text: its text, where its bytes sit in the UTF-8 input, and its ID.</summary>
/// <remarks>
/// Byte-level BPE can split one character over several tokens (an emoji is 4 bytes, often 2-3 tokens), so
/// <see cref="Text"/> may hold a replacement character; the byte range is always exact.
/// </remarks>
public sealed record TokenPiece(string Text, int ByteStart, int ByteLength, int Id);

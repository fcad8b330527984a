using System.Text;

namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>One token per Unicode scalar value; the ID is the code point (as in nanoGPT's shakespeare_char).</summary>
internal sealed class CharEncoding : ITokenEncoding
{
    public string Name => TokenEncodings.Char;

    public int VocabularySize => 0x110000;

    public int? EndOfTextId => null;

    public IReadOnlyList<TokenPiece> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<TokenPiece>(text.Length);
        var byteStart = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            pieces.Add(new TokenPiece(rune.ToString(), byteStart, rune.Utf8SequenceLength, rune.Value));
            byteStart += rune.Utf8SequenceLength;
        }

        return pieces;
    }

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. text.EnumerateRunes().Select(r => r.Value)];
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var builder = new StringBuilder();
        foreach (var id in ids)
        {
            builder.Append(Describe(id));
        }

        return builder.ToString();
    }

    public string Describe(int id) => Rune.IsValid(id)
        ? new Rune(id).ToString()
        : throw new ArgumentOutOfRangeException(nameof(id), id, "Not a Unicode scalar value.");
}

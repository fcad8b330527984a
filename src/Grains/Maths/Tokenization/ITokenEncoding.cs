namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>A text encoding: GPT-2 style byte-pair encodings or single characters.</summary>
public interface ITokenEncoding
{
    /// <summary>Short name used on the command line and in checkpoints: gpt2, r50k, cl100k, o200k, char.</summary>
    string Name { get; }

    /// <summary>Number of IDs the encoding defines (50,257 for gpt2; the Unicode range for char).</summary>
    int VocabularySize { get; }

    /// <summary>The ID that ends a document in this encoding, if it has one (gpt2: 50256 &lt;|endoftext|&gt;).</summary>
    int? EndOfTextId { get; }

    IReadOnlyList<TokenPiece> Tokenize(string text);

    int[] Encode(string text);

    string Decode(IEnumerable<int> ids);

    /// <summary>Readable text of one ID, for display (partial UTF-8 sequences show as their bytes).</summary>
    string Describe(int id);
}

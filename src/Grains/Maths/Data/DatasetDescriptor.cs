namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// What a checkpoint records to rebuild the same dataset: the same vocabulary, the same streams, the same
/// batches. A text corpus is identified by its SHA-256, since the product never ships the file itself.
/// </summary>
/// <param name="Kind"><see cref="SyntheticKind"/> or <see cref="TextKind"/>.</param>
/// <param name="Encoding">Encoding name, e.g. gpt2 or char.</param>
/// <param name="BlockSize">Context length T.</param>
/// <param name="Seed">Synthetic corpus seed (0 for text).</param>
/// <param name="TrainDocuments">Synthetic training documents (0 for text).</param>
/// <param name="ValidationDocuments">Synthetic validation documents (0 for text).</param>
/// <param name="Lexicon">Synthetic lexicon name (null for text).</param>
/// <param name="GrammarVersion">The <see cref="SyntheticGrammar.Version"/> that wrote the documents (0 for text).</param>
/// <param name="TextName">The text corpus name (null for synthetic).</param>
/// <param name="TextSha256">Lower-case hex SHA-256 of the text's UTF-8 bytes (null for synthetic).</param>
public sealed record DatasetDescriptor(
    string Kind,
    string Encoding,
    int BlockSize,
    long Seed,
    int TrainDocuments,
    int ValidationDocuments,
    string? Lexicon,
    int GrammarVersion,
    string? TextName,
    string? TextSha256)
{
    public const string SyntheticKind = "synthetic";
    public const string TextKind = "text";
}

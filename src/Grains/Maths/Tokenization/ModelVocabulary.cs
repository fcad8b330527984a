namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>
/// The model's compact vocabulary: the encoding's IDs that occur in its corpus, plus an end-of-document and an
/// unknown token. An output layer over GPT-2's 50,257 entries would dominate CPU time; the synthetic corpus
/// needs a few hundred. The page still shows the real encoding IDs through <see cref="ToSource"/>.
/// </summary>
public sealed class ModelVocabulary
{
    /// <summary>Model ID of the end-of-document token (GPT-2's &lt;|endoftext|&gt; when the encoding has it).</summary>
    public const int EndOfDocument = 0;

    /// <summary>Model ID that stands for any encoding ID outside the corpus.</summary>
    public const int Unknown = 1;

    /// <summary>Source ID recorded for the end-of-document token when the encoding has none (char).</summary>
    public const int NoSourceId = -1;

    /// <summary>Source ID recorded for the unknown token.</summary>
    public const int UnknownSourceId = -2;

    private const int FormatVersion = 1;

    private readonly int[] _sourceIds;
    private readonly Dictionary<int, int> _modelIdBySource;

    private ModelVocabulary(ITokenEncoding encoding, int[] sourceIds)
    {
        Encoding = encoding;
        _sourceIds = sourceIds;
        _modelIdBySource = new Dictionary<int, int>(sourceIds.Length);
        for (var modelId = 2; modelId < sourceIds.Length; modelId++)
        {
            _modelIdBySource.Add(sourceIds[modelId], modelId);
        }

        if (sourceIds[EndOfDocument] >= 0)
        {
            _modelIdBySource[sourceIds[EndOfDocument]] = EndOfDocument;
        }
    }

    public ITokenEncoding Encoding { get; }

    /// <summary>Number of model IDs, specials included.</summary>
    public int Count => _sourceIds.Length;

    /// <summary>Builds the vocabulary of the given encoding IDs, sorted so the same corpus always gives the same IDs.</summary>
    public static ModelVocabulary Build(ITokenEncoding encoding, IEnumerable<int> sourceIds)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        ArgumentNullException.ThrowIfNull(sourceIds);
        var endOfText = encoding.EndOfTextId ?? NoSourceId;
        var distinct = sourceIds.Where(id => id != endOfText).Distinct().Order().ToArray();
        if (distinct.Length == 0)
        {
            throw new ArgumentException("A vocabulary needs at least one token; the corpus encoded to nothing.", nameof(sourceIds));
        }

        if (distinct[0] < 0 || distinct[^1] >= encoding.VocabularySize)
        {
            var bad = distinct[0] < 0 ? distinct[0] : distinct[^1];
            throw new ArgumentException(
                $"{bad} is not a {encoding.Name} ID (0..{encoding.VocabularySize - 1}).", nameof(sourceIds));
        }

        return new ModelVocabulary(encoding, [endOfText, UnknownSourceId, .. distinct]);
    }

    public int ToModel(int sourceId) => _modelIdBySource.TryGetValue(sourceId, out var modelId) ? modelId : Unknown;

    public int ToSource(int modelId)
    {
        if ((uint)modelId >= (uint)_sourceIds.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(modelId), modelId, $"Model IDs run from 0 to {_sourceIds.Length - 1}.");
        }

        return _sourceIds[modelId];
    }

    /// <summary>Encodes text to model IDs; encoding IDs the corpus never had become <see cref="Unknown"/>.</summary>
    public int[] EncodeText(string text) => [.. Encoding.Encode(text).Select(ToModel)];

    public string DecodeText(IEnumerable<int> modelIds) =>
        Encoding.Decode(modelIds.Select(ToSource).Where(sourceId => sourceId >= 0));

    /// <summary>Text of one model ID for display: the token's text, or &lt;eod&gt; / &lt;unk&gt;.</summary>
    public string Describe(int modelId) => modelId switch
    {
        EndOfDocument => "<eod>",
        Unknown => "<unk>",
        _ => Encoding.Describe(ToSource(modelId)),
    };

    /// <summary>Same encoding and the same model IDs for the same tokens.</summary>
    public bool SameAs(ModelVocabulary other) =>
        other is not null && other.Encoding.Name == Encoding.Name && other._sourceIds.AsSpan().SequenceEqual(_sourceIds);

    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(FormatVersion);
        writer.Write(Encoding.Name);
        writer.Write(_sourceIds.Length);
        foreach (var id in _sourceIds)
        {
            writer.Write(id);
        }
    }

    /// <exception cref="InvalidDataException">
    /// The stream does not hold a vocabulary this version can read: wrong format version, unknown encoding, truncated,
    /// or entries that <see cref="Build"/> could not have written.
    /// </exception>
    public static ModelVocabulary Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        try
        {
            return ReadEntries(reader);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The vocabulary is truncated: the stream ended before its last entry.", e);
        }
        catch (FormatException e)
        {
            // BinaryReader.ReadString throws this for a corrupt length prefix.
            throw new InvalidDataException("The vocabulary's encoding name is corrupt.", e);
        }
    }

    private static ModelVocabulary ReadEntries(BinaryReader reader)
    {
        var version = reader.ReadInt32();
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"Vocabulary format {version} is not supported (expected {FormatVersion}).");
        }

        var encodingName = reader.ReadString();
        ITokenEncoding encoding;
        try
        {
            encoding = TokenEncodings.Get(encodingName);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"The vocabulary names an unknown encoding '{encodingName}'.", e);
        }

        var count = reader.ReadInt32();
        if (count < 3 || count > encoding.VocabularySize + 2)
        {
            throw new InvalidDataException($"A {encodingName} vocabulary cannot hold {count} entries.");
        }

        var ids = new int[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = reader.ReadInt32();
        }

        var endOfText = encoding.EndOfTextId ?? NoSourceId;
        if (ids[Unknown] != UnknownSourceId || ids[EndOfDocument] != endOfText)
        {
            throw new InvalidDataException("The vocabulary's special tokens do not match its encoding.");
        }

        // Build writes distinct, ascending, in-range IDs; anything else is corruption, and a duplicate would
        // otherwise surface later as an ArgumentException from the lookup table.
        for (var modelId = 2; modelId < count; modelId++)
        {
            var id = ids[modelId];
            if (id < 0 || id >= encoding.VocabularySize || id == endOfText || (modelId > 2 && id <= ids[modelId - 1]))
            {
                throw new InvalidDataException(
                    $"Vocabulary entry {modelId} holds {id}, which is not the next ascending {encodingName} ID.");
            }
        }

        return new ModelVocabulary(encoding, ids);
    }
}

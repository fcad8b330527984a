using System.Text;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Tokenization;

public sealed class ModelVocabularyTests
{
    private const int Gpt2EndOfText = 50256;
    private static readonly ITokenEncoding Gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);

    // "The transformer architecture was" in GPT-2, one repeated and the end-of-text token mixed in.
    private static readonly int[] CorpusIds = [464, 47385, 10959, 373, 464, Gpt2EndOfText];

    [Fact]
    public void Build_CorpusIds_PutsSpecialsFirstThenDistinctIdsAscending()
    {
        var vocabulary = ModelVocabulary.Build(Gpt2, CorpusIds);

        Assert.Equal(6, vocabulary.Count);
        Assert.Equal(
            [Gpt2EndOfText, ModelVocabulary.UnknownSourceId, 373, 464, 10959, 47385],
            Enumerable.Range(0, vocabulary.Count).Select(vocabulary.ToSource));
    }

    [Fact]
    public void ToModelToSource_EveryCorpusId_RoundTrips()
    {
        var vocabulary = ModelVocabulary.Build(Gpt2, CorpusIds);

        foreach (var id in CorpusIds)
        {
            Assert.Equal(id, vocabulary.ToSource(vocabulary.ToModel(id)));
        }
    }

    [Fact]
    public void ToModel_EndOfText_IsEndOfDocument()
    {
        Assert.Equal(ModelVocabulary.EndOfDocument, ModelVocabulary.Build(Gpt2, CorpusIds).ToModel(Gpt2EndOfText));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(717)]
    [InlineData(-5)]
    public void ToModel_IdOutsideCorpus_IsUnknown(int sourceId)
    {
        Assert.Equal(ModelVocabulary.Unknown, ModelVocabulary.Build(Gpt2, CorpusIds).ToModel(sourceId));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(6)]
    public void ToSource_ModelIdOutOfRange_Throws(int modelId)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelVocabulary.Build(Gpt2, CorpusIds).ToSource(modelId));
    }

    [Fact]
    public void EncodeTextDecodeText_TextFromCorpus_RoundTrips()
    {
        var vocabulary = ModelVocabulary.Build(Gpt2, Gpt2.Encode("the cat sat on the mat"));

        var modelIds = vocabulary.EncodeText("the mat sat on the cat");

        Assert.DoesNotContain(ModelVocabulary.Unknown, modelIds);
        Assert.Equal("the mat sat on the cat", vocabulary.DecodeText(modelIds));
    }

    [Fact]
    public void EncodeText_WordOutsideCorpus_BecomesUnknownAndIsDroppedOnDecode()
    {
        var vocabulary = ModelVocabulary.Build(Gpt2, Gpt2.Encode("the cat"));

        var modelIds = vocabulary.EncodeText("the dog");

        Assert.Equal(ModelVocabulary.Unknown, modelIds[^1]);
        Assert.Equal("the", vocabulary.DecodeText(modelIds));
    }

    [Fact]
    public void DecodeText_ModelIdOutOfRange_ThrowsArgumentOutOfRange()
    {
        var vocabulary = ModelVocabulary.Build(Gpt2, CorpusIds);

        Assert.Throws<ArgumentOutOfRangeException>(() => vocabulary.DecodeText([2, 99]));
    }

    [Fact]
    public void Build_NoIds_Throws()
    {
        Assert.Throws<ArgumentException>(() => ModelVocabulary.Build(Gpt2, [Gpt2EndOfText]));
    }

    [Theory]
    [InlineData(-3)]
    [InlineData(50257)]
    public void Build_IdOutsideEncoding_Throws(int sourceId)
    {
        Assert.Throws<ArgumentException>(() => ModelVocabulary.Build(Gpt2, [464, sourceId]));
    }

    [Theory]
    [InlineData(TokenEncodings.Gpt2)]
    [InlineData(TokenEncodings.Char)]
    public void WriteRead_Vocabulary_RoundTrips(string name)
    {
        var encoding = TokenEncodings.Get(name);
        var original = ModelVocabulary.Build(encoding, encoding.Encode("héllo 🌍 世界 bank"));

        var copy = ModelVocabulary.Read(new BinaryReader(new MemoryStream(Serialize(original))));

        Assert.Equal(name, copy.Encoding.Name);
        Assert.Equal(original.Count, copy.Count);
        for (var modelId = 0; modelId < original.Count; modelId++)
        {
            Assert.Equal(original.ToSource(modelId), copy.ToSource(modelId));
        }
    }

    [Fact]
    public void Read_EveryTruncation_ThrowsInvalidData()
    {
        var bytes = Serialize(ModelVocabulary.Build(Gpt2, CorpusIds));

        for (var length = 0; length < bytes.Length; length++)
        {
            var error = Assert.Throws<InvalidDataException>(
                () => ModelVocabulary.Read(new BinaryReader(new MemoryStream(bytes, 0, length))));
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
        }
    }

    public static TheoryData<string, byte[]> TamperedStreams => new()
    {
        { "format version", Write(2, "gpt2", [Gpt2EndOfText, -2, 464]) },
        { "unknown encoding", Write(1, "gpt9", [Gpt2EndOfText, -2, 464]) },
        { "too few entries", Write(1, "gpt2", [Gpt2EndOfText, -2]) },
        { "too many entries", Write(1, "gpt2", [Gpt2EndOfText, -2, 464], count: 60_000) },
        { "negative count", Write(1, "gpt2", [Gpt2EndOfText, -2, 464], count: -1) },
        { "unknown special moved", Write(1, "gpt2", [Gpt2EndOfText, 7, 464]) },
        { "end-of-text special changed", Write(1, "gpt2", [-1, -2, 464]) },
        { "duplicate id", Write(1, "gpt2", [Gpt2EndOfText, -2, 464, 464]) },
        { "descending ids", Write(1, "gpt2", [Gpt2EndOfText, -2, 464, 373]) },
        { "negative id", Write(1, "gpt2", [Gpt2EndOfText, -2, -7, 464]) },
        { "id beyond the encoding", Write(1, "gpt2", [Gpt2EndOfText, -2, 464, 50_300]) },
        { "end-of-text among ordinary ids", Write(1, "gpt2", [Gpt2EndOfText, -2, 464, Gpt2EndOfText]) },
        { "corrupt name length", [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] },
    };

    [Fact]
    public void Read_HandWrittenLayout_Reads()
    {
        // Guards the tampering cases below: each differs from this valid stream in one respect only.
        var vocabulary = ModelVocabulary.Read(new BinaryReader(new MemoryStream(Write(1, "gpt2", [Gpt2EndOfText, -2, 373, 464]))));

        Assert.Equal(3, vocabulary.ToModel(464));
    }

    [Theory]
    [MemberData(nameof(TamperedStreams))]
    public void Read_TamperedStream_ThrowsInvalidData(string corruption, byte[] bytes)
    {
        var error = Record.Exception(() => ModelVocabulary.Read(new BinaryReader(new MemoryStream(bytes))));

        Assert.True(error is InvalidDataException, $"{corruption}: got {error?.GetType().Name ?? "no exception"}");
    }

    private static byte[] Serialize(ModelVocabulary vocabulary)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            vocabulary.Write(writer);
        }

        return stream.ToArray();
    }

    /// <summary>Writes the version 1 layout by hand: version, encoding name, entry count, entries.</summary>
    private static byte[] Write(int version, string encodingName, int[] ids, int? count = null)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(version);
            writer.Write(encodingName);
            writer.Write(count ?? ids.Length);
            foreach (var id in ids)
            {
                writer.Write(id);
            }
        }

        return stream.ToArray();
    }
}

using System.Text;
using InsideLLMs.Distributed.Maths.Tokenization;
using Microsoft.ML.Tokenizers;

namespace InsideLLMs.Distributed.Tests.Tokenization;

public sealed class TokenEncodingTests
{
    // The sentence the walkthrough opens with; IDs as published for GPT-2 (and by tiktoken's gpt2 encoding).
    private const string Sentence = "The transformer architecture was first introduced in";
    private static readonly int[] SentenceGpt2Ids = [464, 47385, 10959, 373, 717, 5495, 287];

    // Accents (2-byte), an emoji (4 bytes, split over several byte-level tokens) and CJK (3 bytes each).
    private const string MixedText = "héllo 🌍 世界 bank";

    public static TheoryData<string> AllEncodings => [.. TokenEncodings.Names];

    public static TheoryData<string, string> TiktokenModels => new()
    {
        { TokenEncodings.Gpt2, "gpt2" },
        { TokenEncodings.R50k, "text-davinci-001" },
        { TokenEncodings.Cl100k, "gpt-4" },
        { TokenEncodings.O200k, "gpt-4o" },
    };

    [Fact]
    public void Encode_Gpt2Sentence_GivesPublishedIds()
    {
        var ids = TokenEncodings.Get(TokenEncodings.Gpt2).Encode(Sentence);

        Assert.Equal(SentenceGpt2Ids, ids);
    }

    [Fact]
    public void Decode_Gpt2PublishedIds_GivesSentenceBack()
    {
        var text = TokenEncodings.Get(TokenEncodings.Gpt2).Decode(SentenceGpt2Ids);

        Assert.Equal(Sentence, text);
    }

    [Fact]
    public void Tokenize_Gpt2Sentence_PiecesCarryWordsWithLeadingSpaces()
    {
        var pieces = TokenEncodings.Get(TokenEncodings.Gpt2).Tokenize(Sentence);

        Assert.Equal(["The", " transformer", " architecture", " was", " first", " introduced", " in"], pieces.Select(p => p.Text));
        Assert.Equal(SentenceGpt2Ids, pieces.Select(p => p.Id));
    }

    [Theory]
    [MemberData(nameof(AllEncodings))]
    public void EncodeDecode_MixedScripts_RoundTrips(string name)
    {
        var encoding = TokenEncodings.Get(name);

        Assert.Equal(MixedText, encoding.Decode(encoding.Encode(MixedText)));
    }

    [Theory]
    [MemberData(nameof(AllEncodings))]
    public void Tokenize_MixedScripts_IdsMatchEncode(string name)
    {
        var encoding = TokenEncodings.Get(name);

        Assert.Equal(encoding.Encode(MixedText), encoding.Tokenize(MixedText).Select(p => p.Id));
    }

    [Theory]
    [MemberData(nameof(AllEncodings))]
    public void Tokenize_MixedScripts_ByteRangesAreContiguousFromZeroToUtf8Length(string name)
    {
        var pieces = TokenEncodings.Get(name).Tokenize(MixedText);

        var expectedStart = 0;
        foreach (var piece in pieces)
        {
            Assert.Equal(expectedStart, piece.ByteStart);
            Assert.True(piece.ByteLength > 0, $"token {piece.Id} is empty");
            expectedStart += piece.ByteLength;
        }

        Assert.Equal(Encoding.UTF8.GetByteCount(MixedText), expectedStart);
        Assert.Equal(Encoding.UTF8.GetByteCount(MixedText), pieces.Sum(p => p.ByteLength));
    }

    [Theory]
    [MemberData(nameof(AllEncodings))]
    public void Tokenize_MixedScripts_EachByteRangeDecodesFromItsTokens(string name)
    {
        // A byte-level token may hold part of a character, so compare per run of tokens that ends on a character
        // boundary: the decode of the run's IDs must equal the text's bytes in the run's range.
        var encoding = TokenEncodings.Get(name);
        var bytes = Encoding.UTF8.GetBytes(MixedText);
        var pieces = encoding.Tokenize(MixedText);
        var runIds = new List<int>();
        var runStart = 0;
        var runs = 0;
        foreach (var piece in pieces)
        {
            runIds.Add(piece.Id);
            var end = piece.ByteStart + piece.ByteLength;
            var onBoundary = end == bytes.Length || (bytes[end] & 0b1100_0000) != 0b1000_0000;
            if (!onBoundary)
            {
                continue;
            }

            Assert.Equal(Encoding.UTF8.GetString(bytes, runStart, end - runStart), encoding.Decode(runIds));
            runIds.Clear();
            runStart = end;
            runs++;
        }

        Assert.Empty(runIds);
        Assert.True(runs > 1);
    }

    [Theory]
    [MemberData(nameof(TiktokenModels))]
    public void Decode_EveryWholeCharacterToken_MatchesTheLibrary(string name, string modelName)
    {
        // Our byte table is read from the same data package the library uses; a wrong rank would misplace every ID.
        var encoding = TokenEncodings.Get(name);
        var library = TiktokenTokenizer.CreateForModel(modelName);
        var checkedTokens = 0;
        for (var id = 0; id < encoding.VocabularySize; id++)
        {
            var expected = library.Decode([id]);
            if (expected is null || expected.Length == 0 || expected.Contains('\uFFFD', StringComparison.Ordinal))
            {
                continue;
            }

            Assert.Equal(expected, encoding.Decode([id]));
            checkedTokens++;
        }

        Assert.True(checkedTokens > encoding.VocabularySize / 2, $"only {checkedTokens} tokens checked");
    }

    [Fact]
    public void Encode_SameSentence_R50kCl100kO200kAreDistinctTables()
    {
        var r50k = TokenEncodings.Get(TokenEncodings.R50k).Encode(Sentence);
        var cl100k = TokenEncodings.Get(TokenEncodings.Cl100k).Encode(Sentence);
        var o200k = TokenEncodings.Get(TokenEncodings.O200k).Encode(Sentence);

        Assert.NotEqual(r50k, cl100k);
        Assert.NotEqual(r50k, o200k);
        Assert.NotEqual(cl100k, o200k);
    }

    [Fact]
    public void Get_UnknownName_ThrowsListingKnownNames()
    {
        var error = Assert.Throws<ArgumentException>(() => TokenEncodings.Get("nope"));

        Assert.Contains("'nope'", error.Message, StringComparison.Ordinal);
        foreach (var name in TokenEncodings.Names)
        {
            Assert.Contains(name, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Get_NameWithCaseAndSpaces_FindsEncoding()
    {
        Assert.Equal(TokenEncodings.Cl100k, TokenEncodings.Get(" CL100K ").Name);
    }

    [Fact]
    public void Tokenize_CharEncoding_IdsAreCodePoints()
    {
        var pieces = TokenEncodings.Get(TokenEncodings.Char).Tokenize(MixedText);

        Assert.Equal(MixedText.EnumerateRunes().Select(r => r.Value), pieces.Select(p => p.Id));
        Assert.Equal(0xE9, pieces[1].Id); // é
    }

    [Fact]
    public void Tokenize_CharEncoding_EmojiIsOneFourByteToken()
    {
        var pieces = TokenEncodings.Get(TokenEncodings.Char).Tokenize("a🌍b");

        Assert.Equal(3, pieces.Count);
        Assert.Equal(new TokenPiece("🌍", 1, 4, 0x1F30D), pieces[1]);
        Assert.Equal(5, pieces[2].ByteStart);
    }
}

using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class TextCorpusTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("insidellms-data-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void FromFile_InvalidUtf8_ThrowsNamingFileAndOffset()
    {
        var path = Path.Combine(_directory, "bad.txt");
        File.WriteAllBytes(path, [(byte)'a', (byte)'b', (byte)'c', 0xC3, 0xA9, (byte)'d', 0xFF, (byte)'e']);
        var error = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("byte offset 6", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromFile_TruncatedSequenceAtEnd_IsRejected()
    {
        var path = Path.Combine(_directory, "cut.txt");
        File.WriteAllBytes(path, [(byte)'h', (byte)'i', 0xE2, 0x82]);
        var error = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(path));
        Assert.Contains("byte offset 2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \n\t \r\n")]
    public void FromFile_EmptyOrWhitespace_ThrowsClearError(string content)
    {
        var path = Path.Combine(_directory, "empty.txt");
        File.WriteAllText(path, content);
        var error = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(path));
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TextCorpus.FromText("blank", content));
    }

    [Fact]
    public void FromFile_ValidUtf8_KeepsTextAndHashesFileBytes()
    {
        var path = Path.Combine(_directory, "ok.txt");
        const string text = "héllo wörld 🙂\n";
        File.WriteAllText(path, text);
        var corpus = TextCorpus.FromFile(path);
        Assert.Equal(text, corpus.Text);
        Assert.Equal("ok.txt", corpus.Name);
        Assert.Equal(TextCorpus.FromText("other", text).Sha256, corpus.Sha256);
        Assert.Equal(64, corpus.Sha256.Length);
    }

    [Fact]
    public void TinyShakespeare_CharEncoding_Has67ModelIdsAndNanoGptSplit()
    {
        var corpus = TextCorpus.FromFile(TestData.TinyShakespearePath);
        Assert.Equal(1_115_394, corpus.Text.Length);
        var dataset = TokenDataset.Text(corpus, TokenEncodings.Get(TokenEncodings.Char), blockSize: 256);
        Assert.Equal(65 + 2, dataset.Vocabulary.Count);
        Assert.Equal(1_003_854, dataset.TrainTokens.Length);
        Assert.Equal(111_540, dataset.ValidationTokens.Length);
        Assert.Null(dataset.EntropyFloor);
        Assert.Equal("First Citizen", dataset.Vocabulary.DecodeText(dataset.TrainTokens[..13].ToArray()));

        var batches = dataset.ValidationBatches(batchSize: 64).ToList();
        Assert.Equal((111_540 - 1) / 256 * 256L, batches.Sum(b => (long)b.TargetCount));
        Assert.Equal(dataset.ValidationTargetCount, batches.Sum(b => (long)b.TargetCount));
        var first = batches[0];
        Assert.Equal(dataset.ValidationTokens[1], (int)first.Targets[0]);
        Assert.Equal(dataset.ValidationTokens[256], (int)first.Inputs[256]); // row 1 starts where row 0 ended
    }
}

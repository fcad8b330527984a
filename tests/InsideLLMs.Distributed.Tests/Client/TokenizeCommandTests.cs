using System.Text.Json;
using InsideLLMs.Distributed.Client.Commands;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Client;

public sealed class TokenizeCommandTests
{
    private const string Sentence = "The transformer architecture was first introduced in";
    private static readonly int[] SentenceGpt2Ids = [464, 47385, 10959, 373, 717, 5495, 287];

    [Theory]
    [InlineData("tokenize", "--json")]
    [InlineData("--json", "tokenize")]
    public async Task Tokenize_JsonSentence_WritesOneDocumentWithGpt2Ids(string first, string second)
    {
        var run = await CliRun.RunAsync(first, second, Sentence);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
        using var document = JsonDocument.Parse(run.Stdout);
        var root = document.RootElement;
        Assert.Equal("gpt2", root.GetProperty("encoding").GetString());
        Assert.Equal(Sentence, root.GetProperty("text").GetString());
        Assert.Equal(7, root.GetProperty("tokenCount").GetInt32());
        var tokens = root.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(SentenceGpt2Ids, tokens.Select(t => t.GetProperty("id").GetInt32()));
        Assert.Equal(" transformer", tokens[1].GetProperty("text").GetString());
        Assert.Equal(3, tokens[1].GetProperty("byteStart").GetInt32());
        Assert.Equal(12, tokens[1].GetProperty("byteLength").GetInt32());
    }

    [Fact]
    public async Task Tokenize_JsonCharEncodingEmoji_IsOneFourByteToken()
    {
        var run = await CliRun.RunAsync("tokenize", "--json", "--encoding", "char", "🌍");

        using var document = JsonDocument.Parse(run.Stdout);
        var token = Assert.Single(document.RootElement.GetProperty("tokens").EnumerateArray());
        Assert.Equal(0x1F30D, token.GetProperty("id").GetInt32());
        Assert.Equal(4, token.GetProperty("byteLength").GetInt32());
        Assert.Equal("🌍", token.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Tokenize_HumanOutput_ShowsTableWithVisibleSpacesAndCounts()
    {
        var run = await CliRun.RunAsync("tokenize", Sentence);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("·transformer", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("3..15", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("47385", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("7 tokens (gpt2) for 52 characters, 52 bytes", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", run.Stdout, StringComparison.Ordinal); // no ANSI codes when redirected
    }

    [Fact]
    public async Task Tokenize_HumanOutputMultiByteText_CountsCharactersAndBytesApart()
    {
        var run = await CliRun.RunAsync("tokenize", "--encoding", "char", "é🌍");

        Assert.Contains("2 tokens (char) for 2 characters, 6 bytes", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokenize_UnknownEncoding_ExitsTwoListingKnownNamesOnStderr()
    {
        var run = await CliRun.RunAsync("tokenize", "--encoding", "nope", "x");

        run.AssertUsageError();
        Assert.Contains("'nope'", run.Stderr, StringComparison.Ordinal);
        foreach (var name in TokenEncodings.Names)
        {
            Assert.Contains(name, run.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Tokenize_UnknownEncodingWithJson_WritesNothingOnStdout()
    {
        var run = await CliRun.RunAsync("--json", "tokenize", "--encoding", "nope", "x");

        run.AssertUsageError();
    }

    [Theory]
    [InlineData("tokenize", "")]
    [InlineData("tokenize", "--json", "")]
    [InlineData("tokenize")]
    public async Task Tokenize_NoText_ExitsTwoSayingNothingToTokenize(params string[] args)
    {
        var run = await CliRun.RunAsync(args);

        run.AssertUsageError();
        Assert.Contains("nothing to tokenize", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokenize_File_TokenizesItsContents()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tokenize-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(path, Sentence);
        try
        {
            var run = await CliRun.RunAsync("tokenize", "--json", "--file", path);

            using var document = JsonDocument.Parse(run.Stdout);
            Assert.Equal(SentenceGpt2Ids, document.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Tokenize_MissingFile_ExitsTwoNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.txt");

        var run = await CliRun.RunAsync("tokenize", "--file", path);

        run.AssertUsageError();
        Assert.Contains(path, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokenize_TextAndFile_ExitsTwo()
    {
        var run = await CliRun.RunAsync("tokenize", "--file", "a.txt", "text");

        run.AssertUsageError();
        Assert.Contains("not both", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(" the", "·the")]
    [InlineData("a\tb\n", "a→b↵")]
    [InlineData("plain", "plain")]
    public void ShowWhitespace_Piece_MarksSpaceTabAndNewline(string piece, string shown)
    {
        Assert.Equal(shown, TokenizeCommand.ShowWhitespace(piece));
    }
}

using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Tests.Admission;

/// <summary>Corpora only from the configured places: the built-in one by name, files under <c>Data:Directory</c>.</summary>
public sealed class CorpusLocatorTests : IDisposable
{
    private readonly string _outside = Directory.CreateTempSubdirectory("insidellms-outside-").FullName;
    private readonly string _root = Directory.CreateTempSubdirectory("insidellms-datadir-").FullName;
    private readonly CorpusLocator _locator;

    public CorpusLocatorTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "poems"));
        File.WriteAllText(Path.Combine(_root, "poems", "sonnets.txt"), "Shall I compare thee to a summer's day?\n");
        File.WriteAllText(Path.Combine(_outside, "secret.txt"), "not for training\n");
        File.CreateSymbolicLink(Path.Combine(_root, "secret.txt"), Path.Combine(_outside, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "elsewhere"), _outside);
        File.WriteAllText(Path.Combine(_root, "big.txt"), new string('a', 2_000));
        _locator = new CorpusLocator(new AdmissionOptions { DataDirectory = _root, MaxCorpusBytes = 1_000 });
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_outside, recursive: true);
    }

    [Fact]
    public void Resolve_TheBuiltInCorpus_IsItsName() => Assert.Equal("synthetic", _locator.Resolve("synthetic"));

    [Theory]
    [InlineData("poems/sonnets.txt")]
    [InlineData("poems/../poems/./sonnets.txt")]
    public void Resolve_AFileInsideTheDirectory_IsItsFullPath(string name) =>
        Assert.Equal(Path.Combine(_root, "poems", "sonnets.txt"), _locator.Resolve(name));

    [Fact]
    public void Resolve_AFullPathInsideTheDirectory_IsAccepted()
    {
        var path = Path.Combine(_root, "poems", "sonnets.txt");

        Assert.Equal(path, _locator.Resolve(path));
    }

    [Theory]
    [InlineData("../x/secret.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("poems/../../secret.txt")]
    [InlineData(".")]
    public void Resolve_APathOutOfTheDirectory_IsRefused(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => _locator.Resolve(name));

        Assert.Equal($"The corpus '{name}' is outside the data directory {_root}; name a file inside it.", error.Message);
    }

    [Theory]
    [InlineData("secret.txt", "secret.txt")]
    [InlineData("elsewhere/secret.txt", "elsewhere")]
    public void Resolve_ThroughASymbolicLink_IsRefusedNamingTheLink(string name, string link)
    {
        var error = Assert.Throws<ArgumentException>(() => _locator.Resolve(name));

        Assert.Equal($"The corpus '{name}' goes through the symbolic link {Path.Combine(_root, link)}; links are not followed out of the data directory {_root}.", error.Message);
    }

    [Fact]
    public void Resolve_AMissingFile_SaysWhereItLooked()
    {
        var error = Assert.Throws<ArgumentException>(() => _locator.Resolve("poems/odes.txt"));

        Assert.Equal($"The corpus file 'poems/odes.txt' does not exist in the data directory {_root}.", error.Message);
    }

    [Fact]
    public void Resolve_AFileOverTheSizeLimit_SaysBothSizes()
    {
        var error = Assert.Throws<ArgumentException>(() => _locator.Resolve("big.txt"));

        Assert.Equal("The corpus file 'big.txt' is 2,000 bytes; this silo reads corpus files of at most 1,000 bytes (Data:MaxCorpusBytes).", error.Message);
    }

    [Fact]
    public void Resolve_WithoutADataDirectory_OnlyTheBuiltInCorpus()
    {
        var locator = new CorpusLocator(new AdmissionOptions());

        var error = Assert.Throws<ArgumentException>(() => locator.Resolve(Path.Combine(_root, "poems", "sonnets.txt")));

        Assert.Contains("is not a built-in corpus (synthetic), and this silo reads corpus files only from a data directory: set Data:Directory.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DatasetCache_ABinaryFile_IsRefusedAsNotText_AndNotCached()
    {
        File.WriteAllBytes(Path.Combine(_root, "model.bin"), [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00]);
        var cache = new DatasetCache(_locator);
        var spec = new TrainingRunSpec { Corpus = "model.bin", Encoding = "char", Context = 2 };

        var error = Assert.Throws<ArgumentException>(() => cache.Get(spec));
        Assert.Contains("holds a NUL character at character 4: it is a binary file, not text.", error.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_root, "model.bin"), "now it is text, long enough for a context of two\n");
        Assert.True(cache.Get(spec).TrainWindowCount > 0); // the failure was not cached
    }

    [Fact]
    public void DatasetCache_NotUtf8_IsRefusedWithTheOffset()
    {
        File.WriteAllBytes(Path.Combine(_root, "latin1.txt"), [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)' ', (byte)'o', (byte)'k']);
        var cache = new DatasetCache(_locator);

        var error = Assert.Throws<ArgumentException>(() => cache.Get(new TrainingRunSpec { Corpus = "latin1.txt", Encoding = "char", Context = 2 }));

        Assert.Contains("is not valid UTF-8: invalid byte 0xE9 at byte offset 3.", error.Message, StringComparison.Ordinal);
    }
}

public sealed class AdmissionOptionsTests
{
    [Fact]
    public void From_NoSettings_IsHalfTheMemoryAndTheDefaults()
    {
        var options = AdmissionOptions.From(new ConfigurationBuilder().Build());

        Assert.Equal(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2, options.MemoryBudgetBytes, tolerance: 1);
        Assert.Equal(2, options.MaxActiveRuns);
        Assert.Equal(16, options.MaxSessions);
        Assert.Null(options.DataDirectory);
        Assert.Equal(256L << 20, options.MaxCorpusBytes);
    }

    [Theory]
    [InlineData("12GB", 12_000_000_000L)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1.5 GB", 1_500_000_000L)]
    [InlineData("1000000", 1_000_000L)]
    public void Budget_SizesWithAndWithoutUnits(string value, long bytes) => Assert.Equal(bytes, AdmissionOptions.Budget(value));

    [Theory]
    [InlineData("0")]
    [InlineData("-3GB")]
    [InlineData("12 parsecs")]
    [InlineData("150%")]
    [InlineData("0%")]
    [InlineData("lots")]
    public void Budget_NotASize_IsRefusedNamingTheSetting(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => AdmissionOptions.Budget(value));

        Assert.Contains("Compute:MemoryBudget", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Training:MaxActiveRuns", "0")]
    [InlineData("Inference:MaxSessions", "many")]
    [InlineData("Data:MaxCorpusBytes", "-1")]
    public void From_ABadLimit_IsRefusedNamingIt(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();

        var error = Assert.Throws<ArgumentException>(() => AdmissionOptions.From(configuration));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", error.Message, StringComparison.Ordinal);
    }
}

using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Tests.Admission;

/// <summary>An sft run's JSON Lines file is a corpus file: found under <c>Data:Directory</c> or refused, and read strictly.</summary>
public sealed class InstructionFileAdmissionTests : IDisposable
{
    private const string Good = """{"instruction": " describe Anna at the park", "response": " Anna went to the park. then she was happy."}""";

    private readonly string _root = Directory.CreateTempSubdirectory("insidellms-sft-").FullName;
    private readonly CorpusLocator _locator;

    public InstructionFileAdmissionTests() =>
        _locator = new CorpusLocator(new AdmissionOptions { DataDirectory = _root, MaxCorpusBytes = 10_000 });

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static TrainingRunSpec Sft(string instructions) =>
        new() { Objective = "sft", InitFrom = "base", Instructions = instructions };

    [Fact]
    public void Instructions_AGoodFile_AreItsExamplesInTheCorpusVocabulary()
    {
        File.WriteAllText(Path.Combine(_root, "pairs.jsonl"), Good + "\n" + Good + "\n");
        var cache = new DatasetCache(_locator);

        var data = cache.Instructions(Sft("pairs.jsonl"));

        Assert.Equal(2, data.TrainExamples.Count);
        Assert.Same(cache.Get(Sft("pairs.jsonl")).Vocabulary, data.Vocabulary);
        Assert.Same(data, cache.Batches(Sft("pairs.jsonl")));
    }

    [Fact]
    public void Instructions_ABadLine_IsAnArgumentErrorNamingTheLine_AndNotCached()
    {
        File.WriteAllText(Path.Combine(_root, "pairs.jsonl"), Good + "\n" + Good + "\n{\"instruction\": \"x\"}\n");
        var cache = new DatasetCache(_locator);

        var error = Assert.Throws<ArgumentException>(() => cache.Instructions(Sft("pairs.jsonl")));
        Assert.Equal("The instruction file 'pairs.jsonl', line 3: missing the field 'response'.", error.Message);

        File.WriteAllText(Path.Combine(_root, "pairs.jsonl"), Good + "\n");
        Assert.Single(cache.Instructions(Sft("pairs.jsonl")).TrainExamples);
    }

    [Theory]
    [InlineData("../elsewhere.jsonl", "is outside the data directory")]
    [InlineData("missing.jsonl", "The corpus file 'missing.jsonl' does not exist")]
    public void Validate_AnInstructionFileThisSiloMayNotRead_IsRefusedBeforeAnythingStarts(string name, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => RunLayout.Validate(Sft(name), _locator));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WithoutADataDirectory_RefusesAFileAndAdmitsTheBuiltInInstructions()
    {
        var noDirectory = new CorpusLocator(new AdmissionOptions());

        RunLayout.Validate(Sft("synthetic"), noDirectory);
        RunLayout.Validate(new TrainingRunSpec { Objective = "sft", InitFrom = "base" }, noDirectory);
        var error = Assert.Throws<ArgumentException>(() => RunLayout.Validate(Sft("pairs.jsonl"), noDirectory));
        Assert.Contains("set Data:Directory", error.Message, StringComparison.Ordinal);
    }
}

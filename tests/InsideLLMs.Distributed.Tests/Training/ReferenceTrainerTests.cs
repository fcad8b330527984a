using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Tests.Training;

public sealed class ReferenceTrainerTests : IDisposable
{
    private static readonly Lazy<TokenDataset> Synthetic = new(() =>
        TokenDataset.Synthetic(new SyntheticCorpus(seed: 7), TokenEncodings.Get("gpt2"), blockSize: 32, trainDocuments: 400, validationDocuments: 40));

    private readonly string _directory = Directory.CreateTempSubdirectory("illm-trainer-").FullName;

    private static GptConfig Config(TokenDataset data) => new()
    {
        VocabularySize = data.Vocabulary.Count, BlockSize = data.BlockSize, LayerCount = 2, HeadCount = 2, EmbeddingSize = 32,
    };

    private static TrainingOptions Options => new()
    {
        Steps = 6, BatchSize = 4, MicroBatches = 2, LearningRate = 3e-3, WarmupSteps = 2, EvalInterval = 0, EvalBatches = 2, Threads = 1, Seed = 42,
    };

    [Fact]
    public void Resume_FromACheckpoint_GivesTheSameNextStepLossAndWeightsBitForBit()
    {
        var data = Synthetic.Value;
        var path = Path.Combine(_directory, "run.ckpt");
        // Dropout on: the resumed run must also restore where the random stream stood.
        using var uninterrupted = new ReferenceTrainer(Config(data) with { Dropout = 0.1 }, data, Options);
        for (var i = 0; i < 3; i++)
        {
            uninterrupted.TrainStep();
        }

        uninterrupted.SaveCheckpoint(path);
        var expected = uninterrupted.TrainStep();

        using var resumed = ReferenceTrainer.Resume(path, data);
        Assert.Equal(3, resumed.Step);
        var actual = resumed.TrainStep();

        Assert.Equal(expected.Loss, actual.Loss); // bit for bit, not approximately
        Assert.Equal(expected.GradientNorm, actual.GradientNorm);
        foreach (var ((name, a), (_, b)) in uninterrupted.Model.named_parameters().Zip(resumed.Model.named_parameters()))
        {
            Assert.True(a.allclose(b, rtol: 0, atol: 0), name);
        }
    }

    [Fact]
    public void TrainStep_TwoMicroBatchesOfFour_EqualsOneBatchOfEight()
    {
        var data = Synthetic.Value;
        using var accumulated = new ReferenceTrainer(Config(data), data, Options with { BatchSize = 4, MicroBatches = 2 });
        using var whole = new ReferenceTrainer(Config(data), data, Options with { BatchSize = 8, MicroBatches = 1 });
        for (var i = 0; i < 3; i++)
        {
            var a = accumulated.TrainStep();
            var b = whole.TrainStep();
            Assert.Equal(b.Loss, a.Loss, 1e-5);
        }

        foreach (var ((name, a), (_, b)) in accumulated.Model.named_parameters().Zip(whole.Model.named_parameters()))
        {
            Assert.True(a.allclose(b, rtol: 1e-5, atol: 4e-5), name);
        }
    }

    [Fact]
    public void Run_OnSyntheticData_LowersTheValidationLossAndReportsProgress()
    {
        var data = Synthetic.Value;
        using var trainer = new ReferenceTrainer(Config(data), data, Options with { Steps = 30, EvalInterval = 15, EvalBatches = null });
        var before = trainer.Evaluate();
        var reports = new List<TrainingProgress>();
        var summary = trainer.Run(new InlineProgress<TrainingProgress>(reports.Add));

        Assert.Equal(30, reports.Count);
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), reports.Select(r => r.Step));
        Assert.Equal([15L, 30L], summary.ValidationHistory.Select(h => h.Step));
        Assert.True(summary.ValidationLoss < before - 0.5, $"validation {summary.ValidationLoss} vs {before} before training");
        Assert.True(summary.TokensPerSecond > 0 && summary.GigaflopsPerSecond > 0);
        Assert.Equal(data.EntropyFloor, summary.EntropyFloor);
    }

    [Fact]
    public void Resume_FromADamagedCheckpoint_SaysItIsCorrupt()
    {
        var data = Synthetic.Value;
        var path = Path.Combine(_directory, "damaged.ckpt");
        using (var trainer = new ReferenceTrainer(Config(data), data, Options))
        {
            trainer.TrainStep();
            trainer.SaveCheckpoint(path);
        }

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ReferenceTrainer.Resume(path, data));
        Assert.Contains("corrupt", error.Message, StringComparison.Ordinal);
        File.WriteAllBytes(path, bytes[..100]);
        Assert.Throws<InvalidDataException>(() => ReferenceTrainer.Resume(path, data));
        File.WriteAllText(path, "not a checkpoint at all");
        Assert.Contains("not a checkpoint", Assert.Throws<InvalidDataException>(() => ReferenceTrainer.Resume(path, data)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resume_WithAnotherDatasetOrHyperParameters_IsRefused()
    {
        var data = Synthetic.Value;
        var path = Path.Combine(_directory, "mismatch.ckpt");
        using (var trainer = new ReferenceTrainer(Config(data), data, Options))
        {
            trainer.TrainStep();
            trainer.SaveCheckpoint(path);
        }

        var written = File.GetLastWriteTimeUtc(path);
        var other = TokenDataset.Synthetic(new SyntheticCorpus(seed: 8), TokenEncodings.Get("gpt2"), blockSize: 32, trainDocuments: 400, validationDocuments: 40);
        var error = Assert.Throws<InvalidDataException>(() => ReferenceTrainer.Resume(path, other));
        Assert.Contains("was trained on", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<InvalidDataException>(() => ReferenceTrainer.Resume(path, data, Options with { LearningRate = 1 }));
        Assert.Contains("hyper-parameters", error.Message, StringComparison.Ordinal);
        Assert.Equal(written, File.GetLastWriteTimeUtc(path)); // refusing wrote nothing
        using var longer = ReferenceTrainer.Resume(path, data, Options with { EvalInterval = 3, Threads = 2 });
        Assert.Equal(1, longer.Step);
    }

    [Fact]
    public void Constructor_ModelWhoseContextDiffersFromTheData_IsRejected()
    {
        var data = Synthetic.Value;
        var error = Assert.Throws<ArgumentException>(() => new ReferenceTrainer(Config(data) with { BlockSize = 16 }, data, Options));
        Assert.Contains("context", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}

using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Rlhf;

/// <summary>PPO in one process on a tiny model: the loop's bookkeeping, that it climbs the reward model, and resuming.</summary>
public sealed class PpoTrainerTests(ITestOutputHelper output)
{
    private static readonly TokenDataset Data = TestData.SmallSynthetic();
    private static readonly GptConfig Tiny = new() { VocabularySize = Data.Vocabulary.Count, BlockSize = 64, LayerCount = 2, HeadCount = 2, EmbeddingSize = 32, Dropout = 0 };
    private static readonly SyntheticCorpus Prompts = new(21);

    private static readonly PpoOptions Small = new()
    {
        Iterations = 12, Rollouts = 8, Epochs = 2, MiniBatches = 2, MaxCompletionTokens = 8, PolicyLearningRate = 3e-3, ValueLearningRate = 3e-3,
        KlCoefficient = 0.02, Samples = 2, Threads = 1, Seed = 3,
    };

    [Fact]
    public void FirstIteration_ThePolicyIsTheReference_SoTheKlIsZero_AndEveryFigureIsReported()
    {
        using var ppo = Trainer(Small);

        var first = ppo.Step();

        Assert.Equal(1, first.Iteration);
        Assert.Equal(1, ppo.Iteration);
        Assert.Equal(0, first.MeanKl); // same weights, same forward: log π − log π_ref is exactly 0 on every token
        Assert.Equal(first.MeanRewardedScore, first.MeanReward, 12);
        Assert.Equal(2, first.Samples.Count);
        Assert.All(first.Samples, s => Assert.Contains("describe", s.Prompt, StringComparison.Ordinal));
        Assert.InRange(first.MeanTokens, 1, Small.MaxCompletionTokens);
        Assert.InRange(first.ClipFraction, 0, 1);
        Assert.True(first.Entropy > 0 && double.IsFinite(first.PolicyLoss) && double.IsFinite(first.ValueLoss) && first.ApproximateKl >= 0);
        Assert.True(first.Time.Generation > TimeSpan.Zero && first.Time.Update > TimeSpan.Zero);

        var second = ppo.Step();
        Assert.True(second.MeanKl != 0, "after an update the policy has moved away from the reference");
    }

    /// <summary>
    /// The loop learns what is rewarded: here the reward model is replaced by a score anyone can check, five times the
    /// share of vowels in the completion, and the random tiny policy writes characters (a character vocabulary, so every
    /// token it picks moves the score). Everything else is the trainer's own policy, reference and value model.
    /// </summary>
    [Fact]
    public async Task Iterations_LearnWhatIsRewarded_HereVowels()
    {
        var options = Small with { Iterations = 15, Rollouts = 16, MissingEndPenalty = 0, PolicyLearningRate = 5e-3, Samples = 0 };
        var characters = TokenDataset.Synthetic(new SyntheticCorpus(7), TokenEncodings.Get(TokenEncodings.Char), blockSize: 512, 50, 10); // for its character vocabulary
        using var ppo = Trainer(options, new ScoreNormalization(0, 1), characters);
        var models = new ScoredBy(ppo, text => text.Length == 0 ? 0 : 5.0 * text.Count("aeiou".Contains) / text.Length);
        var (beta, history) = (options.KlCoefficient, new List<PpoIteration>());

        for (var iteration = 0; iteration < options.Iterations; iteration++)
        {
            var result = await PpoLoop.StepAsync(models, options, ppo.Normalization, iteration, beta);
            beta = result.KlCoefficient;
            history.Add(result);
        }

        var (early, late) = (history.Take(3).Average(i => i.MeanScore), history.TakeLast(3).Average(i => i.MeanScore));
        output.WriteLine(string.Join("\n", history.Select(i => $"{i.Iteration,3}: score {i.MeanScore:F3} tokens {i.MeanTokens:F2} kl {i.MeanKl:F3} approx-kl {i.ApproximateKl:F4} clip {i.ClipFraction:F3} value-loss {i.ValueLoss:F4} ev {i.ExplainedVariance:F3}")));
        Assert.True(late > early + 0.5, $"mean score (5 x the share of vowels) {early:F3} -> {late:F3}");
        Assert.True(history[^1].MeanKl > 0, "the policy moved away from the reference");
    }

    /// <summary>The trainer's models with another scorer in place of its reward model.</summary>
    private sealed class ScoredBy(IPpoModels models, Func<string, double> score) : IPpoModels
    {
        public Task<PpoRollouts> SampleAsync(int iteration) => models.SampleAsync(iteration);

        public Task<float[]> ReferenceLogProbabilitiesAsync(PpoRows rows) => models.ReferenceLogProbabilitiesAsync(rows);

        public Task<float[]> ValuesAsync(PpoRows rows) => models.ValuesAsync(rows);

        public Task<double[]> ScoresAsync(IReadOnlyList<string> instructions, IReadOnlyList<string> texts) => Task.FromResult(texts.Select(score).ToArray());

        public Task<IReadOnlyList<PpoUpdateStatistics>> UpdatePolicyAsync(PpoRows rows, Maths.Objectives.PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
            models.UpdatePolicyAsync(rows, tokens, minibatches);

        public Task<IReadOnlyList<PpoUpdateStatistics>> UpdateValueAsync(PpoRows rows, Maths.Objectives.PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
            models.UpdateValueAsync(rows, tokens, minibatches);
    }

    [Fact]
    public void SaveAndRestore_ContinueExactlyAsAnUninterruptedRun()
    {
        using var straight = Trainer(Small with { Iterations = 3 });
        var uninterrupted = straight.Run();

        byte[] state;
        using (var first = Trainer(Small with { Iterations = 3 }))
        {
            first.Step();
            first.Step();
            state = first.SaveState();
        }

        using var resumed = Trainer(Small with { Iterations = 3 });
        resumed.Restore(state);
        Assert.Equal(2, resumed.Iteration);
        var third = resumed.Step();

        Assert.Equal(uninterrupted[2], third with { Time = uninterrupted[2].Time, Samples = uninterrupted[2].Samples });
        Assert.Equal(uninterrupted[2].Samples, third.Samples);
        Assert.Equal(Bytes(straight.Policy), Bytes(resumed.Policy));
        Assert.Equal(Bytes(straight.ValueModel), Bytes(resumed.ValueModel));
    }

    [Fact]
    public void BadState_IsRefused_AndChangesNothing()
    {
        using var ppo = Trainer(Small);
        ppo.Step();
        var before = Bytes(ppo.Policy);

        Assert.Throws<InvalidDataException>(() => ppo.Restore([1, 2, 3]));
        var truncated = ppo.SaveState()[..100];
        Assert.Throws<InvalidDataException>(() => ppo.Restore(truncated));

        Assert.Equal(1, ppo.Iteration);
        Assert.Equal(before, Bytes(ppo.Policy));
    }

    [Fact]
    public void ALanguageModel_AsTheRewardModel_IsRefused()
    {
        var language = Weights(new TrainingOptions { Seed = 5, Threads = 1 });

        var refused = Assert.Throws<ArgumentException>(() => new PpoTrainer(Tiny, Data.Vocabulary, Small, language, language, new ScoreNormalization(0, 1), n => "describe the dog"));

        Assert.Contains("no score head", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Rollouts", 1, "at least 2")]
    [InlineData("MiniBatches", 9, "from 1 to the rollouts (8)")]
    [InlineData("Lambda", 1.5, "in [0, 1]")]
    [InlineData("KlCoefficient", -0.1, "0 or more")]
    public void Options_OutOfRange_AreRefusedByName(string name, double value, string range)
    {
        var options = name switch
        {
            "Rollouts" => Small with { Rollouts = (int)value },
            "MiniBatches" => Small with { MiniBatches = (int)value },
            "Lambda" => Small with { Lambda = value },
            _ => Small with { KlCoefficient = value },
        };

        var refused = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains($"PPO's {name} must be {range}", refused.Message, StringComparison.Ordinal);
    }

    private static PpoTrainer Trainer(PpoOptions options, ScoreNormalization? normalization = null, TokenDataset? data = null) => new(
        Tiny with { VocabularySize = (data ?? Data).Vocabulary.Count }, (data ?? Data).Vocabulary, options,
        Weights(new TrainingOptions { Seed = 5, Threads = 1 }, (data ?? Data).Vocabulary.Count),
        Weights(new TrainingOptions { Seed = 6, Threads = 1, Objective = ObjectiveKind.Reward }, (data ?? Data).Vocabulary.Count),
        normalization ?? new ScoreNormalization(0, 0.05),
        n => Prompts.Instruction(n).Instruction);

    private static Dictionary<string, (byte[] Data, long[] Shape)> Weights(TrainingOptions options, int? vocabulary = null)
    {
        var config = Tiny with { VocabularySize = vocabulary ?? Tiny.VocabularySize };
        using var worker = new StageWorker(config, StageSpec.Whole(config), options);
        return worker.Parameters().ToDictionary(p => p.Name, p => (p.Data, p.Shape));
    }

    private static byte[][] Bytes(GptStage model) => [.. model.named_parameters().Select(p => TensorIO.ToBytes(p.parameter))];
}

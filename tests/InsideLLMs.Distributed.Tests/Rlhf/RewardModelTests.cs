using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Rlhf;

/// <summary>The reward model in one process: a score head on the GPT, trained on rankings with the pairwise objective.</summary>
public sealed class RewardModelTests(ITestOutputHelper output)
{
    private static readonly GptConfig Tiny = new() { VocabularySize = TestData.Synthetic.Vocabulary.Count, BlockSize = 64, LayerCount = 2, HeadCount = 2, EmbeddingSize = 32, Dropout = 0 };

    [Fact]
    public void ScoreHead_ReplacesTheLanguageHead_OneNumberPerPosition_AndNoTiedCopy()
    {
        var stages = StageSpec.Partition(Tiny, 2);
        using var last = new GptStage(Tiny, stages[1], seed: 1, StageHead.Score);
        using var whole = new GptStage(Tiny, StageSpec.Whole(Tiny), seed: 1, StageHead.Score);

        Assert.Contains(last.named_parameters(), p => p.name == "score_head.weight");
        Assert.DoesNotContain(last.named_parameters(), p => p.name == "lm_head.weight");
        Assert.False(last.TiesEmbedding);
        Assert.Null(last.HeadWeight);
        using var scores = whole.Forward(TorchSharp.torch.zeros([3, 5], dtype: TorchSharp.torch.ScalarType.Int64));
        Assert.Equal([3L, 5, 1], scores.shape);
        Assert.Equal(GptStage.ScoreHeadLayer, GptStage.LayerOf("score_head.weight"));
    }

    [Fact]
    public void InitialWeights_FromALanguageModel_LoadEveryBackboneParameter_AndLeaveTheScoreHeadFresh()
    {
        var options = new TrainingOptions { Objective = ObjectiveKind.Reward, RankingCompletions = 2, BatchSize = 2, Threads = 1 };
        using var language = new StageWorker(Tiny, StageSpec.Whole(Tiny), new TrainingOptions { Seed = 99, Threads = 1 });
        using var reward = new StageWorker(Tiny, StageSpec.Whole(Tiny), options);
        using var fresh = new StageWorker(Tiny, StageSpec.Whole(Tiny), options);
        var weights = language.Parameters().ToDictionary(p => p.Name, p => (p.Data, p.Shape));

        reward.LoadInitialParameters(weights);

        var loaded = reward.Parameters().ToDictionary(p => p.Name, p => p.Data);
        foreach (var (name, (data, _)) in weights)
        {
            Assert.Equal(data, loaded[name]);
        }

        var seeded = fresh.Parameters().ToDictionary(p => p.Name, p => p.Data);
        Assert.Equal(seeded["score_head.weight"], loaded["score_head.weight"]);
        Assert.DoesNotContain("score_head.bias", loaded.Keys);
    }

    /// <summary>
    /// Trained on built-in rankings (the grammar's own response among responses to other instructions, ranked by the
    /// preference rule), the reward model orders held-out completion pairs as the rule does far more often than chance.
    /// </summary>
    [Fact]
    public void Training_OnRuleRankings_LearnsToOrderHeldOutPairsAsTheRuleDoes()
    {
        var data = TestData.SmallSynthetic();
        var rankings = RankingDataset.Synthetic(new SyntheticCorpus(11), data.Vocabulary, 64, completions: 4, count: 800, noise: 0, seed: 11);
        var options = new TrainingOptions
        {
            Objective = ObjectiveKind.Reward, RankingCompletions = 4, BatchSize = 16, Steps = 300, LearningRate = 5e-3, MinLearningRate = 5e-4,
            WarmupSteps = 10, EvalInterval = 0, Threads = 1, Seed = 4,
        };
        using var trainer = new ReferenceTrainer(Tiny with { VocabularySize = data.Vocabulary.Count }, data, options, rankings);
        var before = Agreement(trainer, rankings);
        var losses = Enumerable.Range(0, options.Steps).Select(_ => trainer.TrainStep().Loss).ToArray();
        var after = Agreement(trainer, rankings);

        output.WriteLine($"held-out pairwise agreement with the rule: {before.Accuracy:F3} -> {after.Accuracy:F3} over {after.Pairs} pairs; loss {losses[..10].Average():F3} -> {losses[^10..].Average():F3}");
        Assert.True(after.Accuracy >= 0.68, $"held-out agreement {after.Accuracy:F3}");
        Assert.True(after.Accuracy > before.Accuracy + 0.12, $"agreement {before.Accuracy:F3} -> {after.Accuracy:F3}");
        Assert.True(losses[^10..].Average() < Math.Log(2) - 0.1, "the ranking loss fell well below ln 2");
    }

    private static PairwiseAgreement Agreement(ReferenceTrainer trainer, RankingDataset rankings) => RewardScores.Agreement(
        rankings.ValidationRankings.Select(r => (
            (IReadOnlyList<double>)RewardScores.Score(trainer.Model, rankings.Vocabulary, r.Prompt, r.Completions),
            (IReadOnlyList<double>)[.. r.Completions.Select(c => PreferenceRule.Default.Score(r.Prompt, c))])));
}

using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>A run keeps the embeddings view of its token table at step 0, every EvalInterval steps and at the end.</summary>
[Collection(ClusterCollection.Name)]
public sealed class EmbeddingSnapshotTests(ClusterFixture fixture)
{
    private static readonly TrainingRunSpec Spec = new()
    {
        Layers = 2, Heads = 2, Width = 32, Context = 32, Steps = 6, BatchSize = 4, LearningRate = 1e-2, WarmupSteps = 1,
        Stages = 2, Replicas = 1, MicroBatches = 2, EvalInterval = 2, EvalBatches = 1, CheckpointInterval = 3, Seed = 5,
    };

    [Fact]
    public async Task Run_WithEvalIntervalTwoOverSixSteps_KeepsSnapshotsAtSteps0246WithEveryLexiconToken()
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("snapshots");
        await run.StartAsync(Spec);
        await CompletedAsync(run);

        var snapshots = await run.GetEmbeddingSnapshotsAsync();

        Assert.Equal([0L, 2, 4, 6], snapshots.Select(s => s.Step));
        var lexiconTokens = LexiconTokenCount(new DatasetCache().Get(Spec).Vocabulary);
        Assert.True(lexiconTokens > 100, $"only {lexiconTokens} lexicon words are one token");
        foreach (var snapshot in snapshots)
        {
            Assert.Equal(lexiconTokens, snapshot.Points.Count);
            Assert.Equal(lexiconTokens, snapshot.Points.Select(p => p.ModelId).Distinct().Count());
            Assert.All(snapshot.Points, p => Assert.False(string.IsNullOrEmpty(p.Category)));
            Assert.Contains(snapshot.Points, p => p.Text == " cat" && p.Group == "animals");
            Assert.NotNull(snapshot.CategoryPurity);
            Assert.InRange(snapshot.CategoryPurity.Value, 0.0, 1.0);
            Assert.InRange(snapshot.ExplainedVariance, 0.0, 1.0);
        }

        var (first, last) = (snapshots[0], snapshots[^1]);
        Assert.Equal(first.Points.Select(p => p.ModelId), last.Points.Select(p => p.ModelId));
        Assert.Contains(first.Points.Zip(last.Points), pair => pair.First.X != pair.Second.X || pair.First.Y != pair.Second.Y);
    }

    [Fact]
    public async Task FinalSnapshot_EqualsTheInspectorsEmbeddingsViewOfTheLiveRun()
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("snapshots-live");
        await run.StartAsync(Spec with { Steps = 2, EvalInterval = 0 });
        await CompletedAsync(run);

        var snapshots = await run.GetEmbeddingSnapshotsAsync();
        var live = await fixture.Grains.GetGrain<IInspectorGrain>(InferenceNames.LivePrefix + "snapshots-live").EmbeddingsAsync();

        Assert.Equal([0L, 2], snapshots.Select(s => s.Step)); // EvalInterval 0: the start and the end only
        Assert.Equal(live.Step, snapshots[^1].Step);
        Assert.Equal(live.CategoryPurity, snapshots[^1].CategoryPurity);
        Assert.Equal(live.Points, snapshots[^1].Points);
    }

    private static int LexiconTokenCount(ModelVocabulary vocabulary) => SyntheticLexicon.Default.Words
        .Select(w => vocabulary.EncodeText(" " + w.Word))
        .Where(ids => ids.Length == 1 && ids[0] != ModelVocabulary.Unknown)
        .Select(ids => ids[0])
        .Distinct()
        .Count();

    private static async Task CompletedAsync(ITrainingRunGrain run)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"run still {status.Phase} at step {status.Step}");
            await Task.Delay(50);
        }

        Assert.True(status.Phase == RunPhase.Completed, $"run ended {status.Phase}: {status.Error}");
    }
}

using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Optimization;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;
using TorchSharp;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.NativeSafety;

/// <summary>
/// Every tensor the maths makes while it works belongs to a dispose scope. A tensor outside any scope is freed by its
/// finalizer, and a temporary one (<c>a.detach().to(...)</c>: the detached wrapper is unreferenced once its handle has
/// been passed on) can be finalized by another thread's garbage collection while libtorch still uses it. A scope holds
/// every tensor made inside it until it ends, so none can be. TorchSharp counts, per thread, the tensors made outside
/// any scope; each operation here must add none.
/// </summary>
public sealed class DisposeScopeCoverageTests(ITestOutputHelper output)
{
    private static readonly GptConfig Config = new()
    {
        VocabularySize = 0, BlockSize = 32, LayerCount = 2, HeadCount = 2, EmbeddingSize = 16, Bias = true,
    };

    [Fact]
    public void StageWorkers_EveryOperationOfAStep_MakesNoTensorOutsideAScope()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Config with { VocabularySize = data.Vocabulary.Count };
        var stages = StageSpec.Partition(config, 2);
        using var first = new StageWorker(config, stages[0], new TrainingOptions { Seed = 3, MicroBatches = 1 });
        using var last = new StageWorker(config, stages[1], new TrainingOptions { Seed = 3, MicroBatches = 1 });
        var batch = data.TrainBatch(seed: 3, step: 0, microBatch: 0, replica: 0, microBatchesPerReplica: 1, batchSize: 2);
        long[] shape = [batch.BatchSize, batch.BlockSize];
        var checkpoint = first.SaveState();
        var report = new List<string>();

        Check(report, "BeginStep", () => { first.BeginStep(); last.BeginStep(); });
        (byte[]? Hidden, long[]? Shape, double Loss, double LossWeight) forward = default;
        Check(report, "Forward (first)", () => forward = first.Forward(0, batch.Inputs, null, shape, null));
        Check(report, "Forward (last)", () => last.Forward(0, null, forward.Hidden, forward.Shape!, batch.Targets));
        (byte[]? Gradient, long[]? Shape) backward = default;
        Check(report, "Backward (last)", () => backward = last.Backward(0, null));
        Check(report, "Backward (first)", () => first.Backward(0, backward.Gradient));
        float[] flat = [];
        Check(report, "FlattenGradient", () => flat = first.FlattenGradient());
        Check(report, "LoadGradient", () => first.LoadGradient(flat));
        byte[] tied = [];
        Check(report, "TiedGradient", () => tied = last.TiedGradient());
        Check(report, "CombineTiedGradient", () => first.CombineTiedGradient(tied));
        Check(report, "GradientSumOfSquares", () => first.GradientSumOfSquares(countTiedCopy: true));
        Check(report, "Update", () => first.Update(clipCoefficient: 0.5, learningRate: 1e-3));
        Check(report, "Evaluate", () => first.Evaluate(batch.Inputs, null, shape, null));
        Check(report, "SaveState", () => first.SaveState());
        Check(report, "LoadState", () => first.LoadState(checkpoint));
        Check(report, "Parameters", () => first.Parameters());

        Assert.True(report.Count == 0, string.Join("\n", report));
    }

    [Fact]
    public void InspectionAndInference_EveryView_MakesNoTensorOutsideAScope()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Config with { VocabularySize = data.Vocabulary.Count };
        using var inspector = new ModelInspector(new GptStage(config, StageSpec.Whole(config), seed: 5), data.Vocabulary, 0, SyntheticLexicon.Default);
        const string prompt = " the cat was happy";
        var report = new List<string>();

        Check(report, "Embeddings", () => inspector.Embeddings());
        Check(report, "Neighbours", () => inspector.Neighbours("cat", 3));
        Check(report, "Attention", () => inspector.Attention(prompt));
        Check(report, "Qkv", () => inspector.Qkv(prompt, 1, 1, 2));
        Check(report, "NextToken", () => inspector.NextToken(new GenerationRequest(prompt, TopK: 5, TopP: 0.9), 5));
        Check(report, "Lens", () => inspector.Lens(prompt, null, 3));
        Check(report, "TextGenerator", () => TextGenerator.Generate(inspector.Model, data.Vocabulary.EncodeText(prompt), new SamplingOptions(), 4).ToList());
        using var cache = new KvCache();
        var tokens = TokenBytes.From([.. data.Vocabulary.EncodeText(prompt).Select(i => (long)i)]);
        Check(report, "inference stage forward", () => InferenceStageGrain.Run(inspector.Model, cache, new StageForward("s", 0, 0, tokens, null)));

        Assert.True(report.Count == 0, string.Join("\n", report));
    }

    [Fact]
    public void ReferenceTrainer_StepAndValidation_MakeNoTensorOutsideAScope()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Config with { VocabularySize = data.Vocabulary.Count };
        using var trainer = new ReferenceTrainer(config, data, new TrainingOptions { Steps = 2, BatchSize = 2, MicroBatches = 2, Threads = 1, EvalBatches = 1 });
        var report = new List<string>();

        Check(report, "TrainStep", () => trainer.TrainStep());
        Check(report, "Evaluate", () => trainer.Evaluate(maxBatches: 1));

        Assert.True(report.Count == 0, string.Join("\n", report));
    }

    private void Check(List<string> report, string operation, Action run)
    {
        var before = DisposeScopeManager.Statistics.CreatedOutsideScopeCount;
        run();
        var outside = DisposeScopeManager.Statistics.CreatedOutsideScopeCount - before;
        output.WriteLine($"{operation}: {outside} tensors made outside a dispose scope");
        if (outside != 0)
        {
            report.Add($"{operation} made {outside} tensors outside a dispose scope");
        }
    }
}

using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>What one stage's step adds up as it runs, for its report: times by kind, bytes sent, the stash's peak, the loss, the trace.</summary>
internal sealed class StageStepTally
{
    private double _compute, _bubble, _messaging, _lossSum, _lossWeight;
    private long _activationBytes, _gradientBytes;
    private int _peakStash;

    /// <summary>Spans may be added by sends completing on the grain's scheduler while the step goes on.</summary>
    public List<TraceSpan> Trace { get; } = [];

    /// <summary>A forward or backward pass that ran on a compute thread.</summary>
    public void Computed(TraceSpan pass)
    {
        _compute += (pass.EndMicroseconds - pass.StartMicroseconds) / 1e6;
        Trace.Add(pass);
    }

    /// <summary>A wait for a message: idle by the schedule until its sender sent it, messaging from then to its arrival.</summary>
    public void Waited(double bubbleSeconds, double transitSeconds) => (_bubble, _messaging) = (_bubble + bubbleSeconds, _messaging + transitSeconds);

    /// <summary>The wait at the end for sends still in flight.</summary>
    public void Drained(double seconds) => _messaging += seconds;

    public void Stashed(int microBatches) => _peakStash = Math.Max(_peakStash, microBatches);

    /// <summary>A micro-batch's loss term and its weight, as the objective reported them.</summary>
    public void Loss(double microBatchLoss, double weight) => (_lossSum, _lossWeight) = (_lossSum + microBatchLoss, _lossWeight + weight);

    public void SentActivation(int bytes) => _activationBytes += bytes;

    public void SentGradient(int bytes) => _gradientBytes += bytes;

    public StageStepReport Report(int stage, int replica, string silo) => new(
        stage, replica, silo, _lossSum, _compute, _bubble, _activationBytes, _gradientBytes, _peakStash, Trace, _messaging)
    {
        LossWeight = _lossWeight,
    };
}

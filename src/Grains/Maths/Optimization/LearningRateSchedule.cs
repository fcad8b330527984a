namespace InsideLLMs.Distributed.Maths.Optimization;

/// <summary>Linear warmup, then cosine decay to a floor, as nanoGPT schedules it.</summary>
public sealed record LearningRateSchedule(double MaxRate, double MinRate, int WarmupSteps, int DecaySteps)
{
    /// <summary>Learning rate for the 0-based step.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps)
        {
            return MaxRate * (step + 1) / (WarmupSteps + 1); // never 0: the first step already learns
        }

        if (step >= DecaySteps)
        {
            return MinRate;
        }

        var progress = (double)(step - WarmupSteps) / Math.Max(1, DecaySteps - WarmupSteps);
        return MinRate + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (MaxRate - MinRate);
    }
}
